// Command nodeproc is one node of the registry's network tests: a provider of
// test.Who, or with -calls a consumer that calls it with keys from four callers,
// in a process of its own.
// It prints JSON lines on stdout: one per change of its view of the cluster, one
// per failed call and per call that succeeded slowly, and a summary of its calls
// every second. SIGTERM makes it
// leave gracefully.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ringrpc/ringrpc/registry"
	"github.com/ringrpc/ringrpc/rpc"
)

// whoDesc is the service every provider serves: it answers with its node name.
var whoDesc = rpc.ServiceDesc{
	Name:    "test.Who",
	Methods: []rpc.MethodDesc{{Name: "Who", Params: []rpc.Param{{Name: "key", Type: "string"}}, Results: []string{"string"}, Idempotent: true}},
}

// View is one line of output: the node's view of the cluster.
type View struct {
	Node      string   `json:"node"`
	At        int64    `json:"at"` // unix nanoseconds
	Providers []string `json:"providers"`
	Members   int      `json:"members"`
	Digest    uint64   `json:"digest"`
	Divergent int      `json:"divergent"`
}

// Calls is a line of call figures: totals since the start.
type Calls struct {
	Node     string `json:"node"`
	At       int64  `json:"at"`
	Calls    int64  `json:"calls"`
	Failures int64  `json:"failures"`
	Fail     string `json:"fail,omitempty"` // the error of one failed call
	Took     int64  `json:"took,omitempty"` // how long that call took, ns
	Slow     int64  `json:"slow,omitempty"` // how long a call that succeeded slowly took, ns
}

// slowCall is the duration from which a call that succeeded is reported: a call
// whose first attempt timed out took at least half its deadline.
const slowCall = 900 * time.Millisecond

var out = struct {
	sync.Mutex
	enc *json.Encoder
}{enc: json.NewEncoder(os.Stdout)}

func emit(v any) {
	out.Lock()
	defer out.Unlock()
	out.enc.Encode(v)
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "nodeproc:", err)
		os.Exit(1)
	}
}

func run() error {
	name := flag.String("name", "", "node name")
	ip := flag.String("ip", "127.0.0.1", "address for gossip and RPC")
	seeds := flag.String("seeds", "", "comma-separated gossip seeds")
	calls := flag.Bool("calls", false, "consume instead of provide: call test.Who in a loop")
	deadline := flag.Duration("deadline", 2*time.Second, "deadline of each call")
	stateFile := flag.String("state", "", "registry state file")
	var preset registry.Preset
	flag.TextVar(&preset, "preset", registry.Fast, "failure-detection preset")
	flag.Parse()

	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	opts := registry.Options{NodeName: *name, BindAddr: *ip, BindPort: 7946, Preset: preset, Logger: logger, StateFile: *stateFile}
	if *seeds != "" {
		opts.Seeds = strings.Split(*seeds, ",")
	}
	var server *rpc.Server
	if !*calls {
		server = rpc.NewServer(rpc.ServerOptions{Logger: logger})
		if err := server.Register(&whoDesc, []rpc.Handler{who(*name)}); err != nil {
			return err
		}
		ln, err := net.Listen("tcp", net.JoinHostPort(*ip, "7001"))
		if err != nil {
			return err
		}
		go server.Serve(ln)
		opts.Server, opts.RPCAddr = server, ln.Addr().String()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	reg, err := registry.Join(ctx, opts)
	cancel()
	if err != nil {
		return err
	}
	stop, cancelAll := context.WithCancel(context.Background())
	defer cancelAll()
	var wg sync.WaitGroup
	wg.Go(func() { watch(stop, reg, *name) })
	if *calls {
		c, err := rpc.NewClient(rpc.ClientOptions{Resolver: reg})
		if err != nil {
			return err
		}
		defer c.Close()
		wg.Go(func() { call(stop, c, *name, *deadline) })
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	cancelAll()
	wg.Wait()
	sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer scancel()
	return reg.Shutdown(sctx)
}

func who(node string) rpc.Handler {
	return func(_ context.Context, args *rpc.Decoder, res *rpc.Encoder) error {
		var key string
		args.String(&key)
		if err := args.Finish(); err != nil {
			return err
		}
		res.String(node)
		return nil
	}
}

// watch prints the node's view each time it changes.
func watch(ctx context.Context, reg *registry.Registry, node string) {
	var last View
	for {
		v := view(reg.Snapshot(), node)
		if !same(v, last) {
			emit(v)
			last = v
		}
		err := reg.WaitFor(ctx, func(s registry.Snapshot) bool { return !same(view(s, node), last) })
		if err != nil {
			return
		}
	}
}

func view(s registry.Snapshot, node string) View {
	v := View{Node: node, At: time.Now().UnixNano(), Members: len(s.Members), Digest: s.Digest, Divergent: len(s.Divergent())}
	for _, o := range s.Services[whoDesc.Name] {
		v.Providers = append(v.Providers, o.Node)
	}
	return v
}

func same(a, b View) bool {
	return slices.Equal(a.Providers, b.Providers) && a.Members == b.Members && a.Digest == b.Digest && a.Divergent == b.Divergent
}

// call makes keyed calls from four callers, each about 50 a second, and reports
// failures at once and totals every second.
func call(ctx context.Context, c *rpc.Client, node string, deadline time.Duration) {
	var calls, failures atomic.Int64
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() { caller(ctx, c, node, deadline, w, &calls, &failures) })
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			emit(Calls{Node: node, At: time.Now().UnixNano(), Calls: calls.Load(), Failures: failures.Load()})
		case <-ctx.Done():
			wg.Wait()
			return
		}
	}
}

func caller(ctx context.Context, c *rpc.Client, node string, deadline time.Duration, w int, calls, failures *atomic.Int64) {
	pace := time.NewTicker(20 * time.Millisecond)
	defer pace.Stop()
	for i := 0; ; i++ {
		select {
		case <-pace.C:
		case <-ctx.Done():
			return
		}
		key := fmt.Sprintf("key-%d-%d", w, i%250)
		start := time.Now()
		cctx, cancel := context.WithTimeout(ctx, deadline)
		cl := c.NewCall(&whoDesc, 0)
		cl.Args.String(key)
		cl.SetRouteKey(key)
		_, err := c.Invoke(cctx, cl)
		cancel()
		calls.Add(1)
		took := time.Since(start)
		switch {
		case err != nil && ctx.Err() == nil:
			failures.Add(1)
			emit(Calls{Node: node, At: time.Now().UnixNano(), Calls: calls.Load(), Failures: failures.Load(), Fail: err.Error(), Took: int64(took)})
		case err == nil && took >= slowCall:
			emit(Calls{Node: node, At: time.Now().UnixNano(), Calls: calls.Load(), Failures: failures.Load(), Slow: int64(took)})
		}
	}
}
