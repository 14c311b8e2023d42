// Command ringrpc calls and inspects ringrpc services, like grpcurl for ringrpc.
//
//	ringrpc call --addr 127.0.0.1:7001 example.com/hello.Hello SayHello '["a","b"]'
//	ringrpc call --seed 127.0.0.1:7946 example.com/hello.Hello Greet '["user-1"]'
//	ringrpc services --addr 127.0.0.1:7001 --tls --ca ca.pem
//	ringrpc members --seed 127.0.0.1:7946
//	ringrpc ring example.com/hello.Hello --seed 127.0.0.1:7946
//	ringrpc keys install NEWKEY --seed 127.0.0.1:7946 --gossip-key OLDKEY
//
// --addr talks to one server; --seed joins the gossip cluster for the command's
// length and routes as the generated client does: by the method's
// //ringrpc:routekey directive, read from the server's descriptor (whose types
// give the JSON names of the Go fields it names), else by the JSON of the first
// argument (the method's name when it takes none), or by --route-key. A key that is
// a whole struct, slice or map is taken as the JSON given, which the Go client's
// matches only when it is written as encoding/json writes it. Flags may come
// before or after the arguments.
//
// Joining, the command is a member named ringrpc-cli-<random> that serves nothing:
// other members list it while the command runs. It gossips every 20 ms, so that
// its leave goes out at once, and it does not wait for the leave to propagate,
// since no ring holds it. With the LAN preset a command through the cluster
// answers in well under a second (about 0.2 s on loopback).
//
// services lists each service's methods and the types they use: a struct's JSON
// members with their names and Go types, a named type's underlying type. Through
// the cluster, it fails (exit status 1) when no member provides a service.
// Arguments are checked against the method's descriptor before anything is sent:
// their number, and each one's JSON against its Go type, member by member through
// structs, slices and maps. A member that the struct does not have is an error
// here, although a server would ignore it.
// TLS servers take --tls (with --ca, --cert, --key, --server-name); an encrypted
// gossip takes --gossip-key or $RINGRPC_GOSSIP_KEY, a named cluster --cluster or
// $RINGRPC_CLUSTER. A peer that is not a ringrpc
// server (an HTTP server, a gossip port, a TLS server called without --tls) is named
// as such.
//
// Exit status: 0 on success, 1 when the command fails, 2 on a usage error.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// usageError is a mistake in the command line: exit status 2.
type usageError struct {
	msg  string
	said bool // the flag package printed it, with the usage
}

func (e usageError) Error() string { return e.msg }

const usage = `usage: ringrpc <command> [flags] [args]

commands:
  call SERVICE METHOD [JSON-ARGS]  call a method; JSON-ARGS is a JSON array (default [])
  services                         list services, their methods and the JSON of the
                                   types they use
  members                          list cluster members (needs --seed)
  ring SERVICE                     show each provider's share of a service's ring, its
                                   checksum, and which members route differently (needs --seed)
  health [SERVICE]                 the serving status of a server (--addr) or of every provider
                                   (--seed), of SERVICE or of the whole server; exit 1 unless
                                   all are SERVING
  keys install|use|remove KEY      rotate the gossip key on every member (needs --seed and
                                   --gossip-key with a key the cluster has)

Flags go before or after the arguments; ringrpc <command> --help lists a command's.
`

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stderr, usage)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	cmds := map[string]func([]string, io.Writer, io.Writer) error{
		"call": cmdCall, "services": cmdServices, "members": cmdMembers, "ring": cmdRing, "keys": cmdKeys,
		"health": cmdHealth,
	}
	cmd, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "ringrpc: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	err := cmd(args[1:], stdout, stderr)
	var ue usageError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errHelp):
		return 0
	case errors.As(err, &ue):
		if !ue.said {
			fmt.Fprintf(stderr, "ringrpc %s: %s\n", args[0], shownText(err.Error()))
		}
		return 2
	default:
		fmt.Fprintf(stderr, "ringrpc %s: %s\n", args[0], shownText(err.Error()))
		return 1
	}
}
