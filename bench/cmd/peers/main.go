// Command peers measures ringrpc against gRPC with protobuf, CloudWeGo Kitex with
// Thrift, net/rpc with gob and a
// raw TCP echo, with the servers in child processes on loopback, and prints a
// Markdown table: calls per second, median and 99th percentile latency, and the
// client's allocations per call, for each peer, payload and number of callers.
//
//	cd bench && go build -tags kitex -o /tmp/peers-kitex ./cmd/peers && go run ./cmd/peers -apart /tmp/peers-kitex [-duration 3s] [-callers 1,16,100,1000]
//
// Kitex is linked only into the build with the tag kitex: its libraries change how
// a whole process runs (linked into this command, they cut ringrpc's calls/s by
// about a tenth), so its cells are measured by that build, each in processes of
// their own.
//
// PEERS_CPUPROFILE=dir writes a CPU profile of the client and of every server into
// dir: best with one peer, payload and number of callers, as in
// -peers ringrpc -payloads echo -callers 100.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/ringrpc/ringrpc/bench/internal/load"
	"github.com/ringrpc/ringrpc/bench/internal/peers"
)

type options struct {
	apart    string
	role     string
	peer     string
	peers    string
	payloads string
	callers  string
	warmup   time.Duration
	duration time.Duration
}

func main() {
	var o options
	flag.StringVar(&o.role, "role", "client", "client: run the benchmark; server: serve -peer for it; cell: measure one cell of -peer and print it as JSON")
	flag.StringVar(&o.apart, "apart", "", "this command built with -tags kitex, which measures the Kitex cells in processes of their own (make bench-peers builds it)")
	flag.StringVar(&o.peer, "peer", "", "the peer to serve, with -role=server")
	flag.StringVar(&o.peers, "peers", "all", "comma-separated peers to measure: ringrpc, net/rpc, grpc, kitex, raw")
	flag.StringVar(&o.payloads, "payloads", "all", "comma-separated payloads to measure: hello, echo")
	flag.StringVar(&o.callers, "callers", "1,16,100,1000", "comma-separated numbers of concurrent callers")
	flag.DurationVar(&o.warmup, "warmup", 500*time.Millisecond, "calling time before each measurement")
	flag.DurationVar(&o.duration, "duration", 3*time.Second, "measured time of each cell")
	flag.Parse()
	if dir := os.Getenv("PEERS_CPUPROFILE"); dir != "" {
		stop, err := profile(dir, o)
		if err != nil {
			fmt.Fprintln(os.Stderr, "peers:", err)
			os.Exit(1)
		}
		defer stop()
	}
	var err error
	switch o.role {
	case "server":
		err = peers.ServeMain(o.peer, os.Stdin, os.Stdout)
	case "cell":
		err = runCell(o)
	default:
		err = runClient(o)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "peers:", err)
		os.Exit(1)
	}
}

// profile writes this process's CPU profile into dir, named by its role and peer,
// until stop is called: PEERS_CPUPROFILE=dir profiles the client and every server
// of a run, which is best limited to one peer and one cell.
func profile(dir string, o options) (stop func(), err error) {
	name := o.role
	if o.peer != "" {
		name += "-" + strings.NewReplacer("/", "", "+", "").Replace(o.peer)
	}
	f, err := os.Create(filepath.Join(dir, name+".pprof"))
	if err != nil {
		return nil, fmt.Errorf("PEERS_CPUPROFILE: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("PEERS_CPUPROFILE: %w", err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

func runClient(o options) error {
	ps, err := peers.Select(o.peers)
	if err != nil {
		return err
	}
	ws, err := peers.SelectWorkloads(o.payloads)
	if err != nil {
		return err
	}
	callers, err := parseInts(o.callers)
	if err != nil {
		return err
	}
	servers, stop, err := startServers(ps)
	defer stop()
	if err != nil {
		return err
	}
	rows := measureAll(ps, servers, ws, callers, o)
	printReport(os.Stdout, o, rows)
	for _, r := range rows {
		if r.err != nil {
			return errors.New("some cells failed")
		}
	}
	return nil
}

// measureAll measures every cell, peers innermost so that each payload and number
// of callers meets every peer at about the same time.
func measureAll(ps []peers.Peer, servers []*peers.Server, ws []peers.Workload, callers []int, o options) []row {
	var rows []row
	for _, w := range ws {
		for _, n := range callers {
			for i, p := range ps {
				cfg := load.Config{Callers: n, Warmup: o.warmup, Duration: o.duration}
				var r row
				if p.Dial == nil {
					r = measureApart(o, p, w, cfg)
				} else {
					r = measure(p, servers[i], w, cfg)
				}
				if r.err != nil {
					fmt.Fprintf(os.Stderr, "%-14s %-5s %4d callers: %v\n", p.Name, w.Name, n, r.err)
				} else {
					fmt.Fprintf(os.Stderr, "%-14s %-5s %4d callers: %s calls/s\n", p.Name, w.Name, n, thousands(r.rate))
				}
				rows = append(rows, r)
			}
		}
	}
	return rows
}

// startServers runs one server process per peer: this executable with -role=server.
// A peer measured apart has none (nil).
func startServers(ps []peers.Peer) (servers []*peers.Server, stop func(), err error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, func() {}, err
	}
	stop = func() {
		for i, s := range servers {
			if s == nil {
				continue
			}
			if err := s.Stop(); err != nil {
				fmt.Fprintf(os.Stderr, "server process of %s: %v\n", ps[i].Name, err)
			}
		}
	}
	for _, p := range ps {
		if p.Serve == nil { // measured apart, with its own server
			servers = append(servers, nil)
			continue
		}
		cmd := exec.Command(exe, "-role=server", "-peer="+p.Name)
		cmd.Stderr = os.Stderr
		s, err := peers.StartServer(cmd)
		if err != nil {
			return nil, stop, fmt.Errorf("%s: %w", p.Name, err)
		}
		servers = append(servers, s)
	}
	return servers, stop, nil
}

func parseInts(list string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(list, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("bad number of callers %q", f)
		}
		out = append(out, n)
	}
	return out, nil
}

// runtimeLine describes the machine and the run, for the report.
func runtimeLine(o options) string {
	return fmt.Sprintf("%s %s/%s, %d CPUs, GOMAXPROCS=%d; client and each server in its own process over 127.0.0.1, one connection; %v per cell after %v of warm-up.",
		runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.GOMAXPROCS(0), o.duration, o.warmup)
}
