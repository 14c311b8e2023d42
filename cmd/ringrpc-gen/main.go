// Command ringrpc-gen writes ringrpc clients and dispatchers for Go interfaces.
//
// Make it a tool of your module, so that go mod tidy keeps what it needs; with a
// checkout of the repository at /path/to/ringrpc (ringrpc is on no module proxy yet):
//
//	go mod edit -require github.com/ringrpc/ringrpc@v0.0.0 -replace github.com/ringrpc/ringrpc=/path/to/ringrpc
//	go mod edit -tool github.com/ringrpc/ringrpc/cmd/ringrpc-gen
//	go mod tidy
//
// then put a line like this beside the interfaces and run go generate:
//
//	//go:generate go tool ringrpc-gen -type Hello,World
//
// For each interface X it writes, to <file>_ringrpc.go beside the file declaring X:
// NewXClient, NewXAsyncClient with the XAsync interface, RegisterXServer, the
// XServiceName constant and the XServiceDesc descriptor. See docs/GENERATOR.md.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/ringrpc/ringrpc/codegen"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "ringrpc-gen:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("ringrpc-gen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	types := fs.String("type", "", "comma-separated interface names to generate for (required)")
	dir := fs.String("dir", ".", "directory of the package holding the interfaces")
	tags := fs.String("tags", "", "comma-separated build tags to load the package with")
	codecs := fs.Bool("codecs", true, "generate JSON codecs for the struct, slice, map, array and pointer types sent; false sends them through go-json")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: ringrpc-gen -type Iface[,Iface...] [-dir DIR] [-tags TAGS] [-codecs=false]\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil // asked for the usage, which Parse printed
		}
		return err
	}
	if fs.NArg() > 0 {
		return extraArgs(splitList(*types), fs.Args())
	}
	if *types == "" {
		fs.Usage()
		return fmt.Errorf("-type is required: name the interfaces, like -type Hello,World")
	}
	cfg := codegen.Config{Dir: *dir, Types: splitList(*types), Tags: splitList(*tags), NoCodecs: !*codecs}
	paths, err := codegen.Write(cfg)
	if err != nil {
		return err
	}
	for _, p := range paths {
		fmt.Fprintln(stdout, "wrote", p)
	}
	return nil
}

// extraArgs refuses the arguments after the flags, where the flag package stops: with
// -type A B, B would be left out without a word, and so would a flag after it.
func extraArgs(types, args []string) error {
	names, flagsAfter := types, false
	for _, a := range args {
		if strings.HasPrefix(a, "-") {
			flagsAfter = true
			break
		}
		names = append(names, splitList(a)...)
	}
	if len(names) == 0 {
		names = []string{"Hello", "World"}
	}
	list := strings.Join(names, ",")
	if flagsAfter {
		return fmt.Errorf("unexpected argument %q: ringrpc-gen takes flags only, and read none after it; put every flag first, and name every interface in one -type, comma-separated: -type %s", args[0], list)
	}
	return fmt.Errorf("unexpected argument %q: ringrpc-gen takes flags only; name every interface in one -type, comma-separated: -type %s", args[0], list)
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
