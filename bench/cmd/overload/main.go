// Command overload measures what hostile peers cost a provider: peers that pipeline
// requests and never read, peers that stall frames of the maximum size, and a reading
// flood, each from many connections, while a good client at 10 callers keeps calling.
// A fourth scenario, spin, sends the provider nothing and keeps every core busy
// instead: what sharing the machine's cores alone costs the good client.
// The provider, the hostile peers and the good client run in three processes, so that
// the provider's peak RSS and goroutines are its own.
//
//	cd bench && go run ./cmd/overload [-peers 500] [-measure 5s] [-scenarios nonreading,partial,flood] [-conns 1] [-provider ringrpc] [-cpus provider=0,hostile=1]
//
// It prints, per scenario, the provider's peak RSS and goroutines, and the good
// client's calls, errors and p99 against its p99 before the peers came. With -provider
// bare the provider is the least a Go server can do instead, a goroutine per
// connection answering SayHello: what it gets under the same peers is what Go's
// runtime gives, whatever the framework. With -provider loop (Linux) it is an event
// loop per processor over epoll that serves connections with a backlog after the
// others: what that design would give. OVERLOAD_CPUPROFILE=file writes the ringrpc
// provider's CPU profile to file.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

type options struct {
	role      string
	kind      string
	addr      string
	peers     int
	settle    time.Duration
	measure   time.Duration
	scenarios string
	conns     int // the good client's connections to the provider
	provider  string
	cpus      map[string]string // the CPUs of the provider and the hostile process, by role
	workers   int               // the loop provider's pool, or 0 to answer on the loops
}

// childEnv carries a child process's arguments: the child may be this command or its
// test binary, whose own flags are the testing package's.
const childEnv = "RINGRPC_OVERLOAD_CHILD"

func main() {
	if childMain() {
		return
	}
	if err := run(parse(os.Args[1:])); err != nil {
		fmt.Fprintln(os.Stderr, "overload:", err)
		os.Exit(1)
	}
}

// childMain runs a child's role when this process is one, and reports whether it was.
func childMain() bool {
	args, ok := os.LookupEnv(childEnv)
	if !ok {
		return false
	}
	if err := run(parse(strings.Fields(args))); err != nil {
		fmt.Fprintln(os.Stderr, "overload:", err)
		os.Exit(1)
	}
	return true
}

func parse(args []string) options {
	var o options
	fs := flag.NewFlagSet("overload", flag.ExitOnError)
	fs.StringVar(&o.role, "role", "", "internal: provider or hostile")
	fs.StringVar(&o.kind, "kind", "", "internal: the hostile peers' behaviour")
	fs.StringVar(&o.addr, "addr", "", "internal: the provider's address")
	fs.IntVar(&o.peers, "peers", 500, "hostile connections per scenario")
	fs.DurationVar(&o.settle, "settle", 3*time.Second, "how long the peers run before the good client is measured")
	fs.DurationVar(&o.measure, "measure", 5*time.Second, "how long the good client is measured, alone and then under load")
	fs.StringVar(&o.scenarios, "scenarios", "nonreading,partial,flood", "comma-separated scenarios: nonreading, nonreading-echo (answers of some 800 bytes), partial, flood, spin")
	fs.IntVar(&o.conns, "conns", 1, "the good client's connections to the provider (transport.ClientOptions.PoolSize)")
	fs.StringVar(&o.provider, "provider", "ringrpc", "the provider: ringrpc, or bare (a goroutine per connection), bare-yield (one that yields after each request) or loop (epoll event loops, backlogs last), to tell ringrpc from Go's runtime")
	fs.IntVar(&o.workers, "workers", 0, "with -provider loop: the goroutines its loops hand requests to, light connections' first, as handlers that may block need; 0 answers them on the loops")
	cpus := fs.String("cpus", "", "the CPUs the provider and the hostile process run on (Linux, taskset), such as provider=0,hostile=1; the good client runs in this process, which taskset can pin too")
	fs.Parse(args)
	var err error
	if o.cpus, err = parseCPUs(*cpus); err != nil {
		fmt.Fprintln(os.Stderr, "overload:", err)
		os.Exit(2)
	}
	return o
}

func run(o options) error {
	_, err := runScenarios(o, os.Stdout)
	return err
}

// runScenarios runs o's role; as the driver it runs the scenarios, prints a table of
// their results on w, and returns them.
func runScenarios(o options, w io.Writer) ([]result, error) {
	switch o.role {
	case "provider":
		switch o.provider {
		case "bare", "bare-yield":
			return nil, provideBare(o.provider == "bare-yield", os.Stdin, os.Stdout)
		case "loop":
			return nil, provideLoop(o.workers, os.Stdin, os.Stdout)
		}
		return nil, provide(os.Stdin, os.Stdout)
	case "hostile":
		return nil, hostile(o.kind, o.addr, o.peers, os.Stdin, os.Stdout)
	case "":
	default:
		return nil, fmt.Errorf("unknown role %q", o.role)
	}
	switch o.provider {
	case "":
		o.provider = "ringrpc"
	case "ringrpc", "bare", "bare-yield", "loop":
	default:
		return nil, fmt.Errorf("unknown provider %q: use ringrpc, bare, bare-yield or loop", o.provider)
	}
	var results []result
	for _, kind := range strings.Split(o.scenarios, ",") {
		if _, ok := behaviours[kind]; !ok {
			return nil, fmt.Errorf("unknown scenario %q: use nonreading, nonreading-echo, partial, flood or spin", kind)
		}
		r, err := scenario(kind, o)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", kind, err)
		}
		results = append(results, r)
		fmt.Fprintln(os.Stderr, r.line())
	}
	report(w, results)
	return results, nil
}
