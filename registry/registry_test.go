package registry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ringrpc/ringrpc/rpc"
)

func TestDiscoveryAndSameKeySameProvider(t *testing.T) {
	_, seeds := cluster(t, 3)
	regA, ca := startConsumer(t, "consumer-a", seeds, nil)
	regB, cb := startConsumer(t, "consumer-b", seeds, nil)
	providersOf(t, regA, whoDesc.Name, 3)
	providersOf(t, regB, whoDesc.Name, 3)
	ctx := context.Background()
	seen := map[string]bool{}
	for i := range 60 {
		key := fmt.Sprintf("user-%d", i)
		// Under a loaded machine the fast preset may suspect a provider for a moment,
		// and a call then goes to the next owner: nodes agree once they see the same
		// members again.
		var a, b, again string
		for try := range 3 {
			providersOf(t, regA, whoDesc.Name, 3)
			providersOf(t, regB, whoDesc.Name, 3)
			var err error
			if a, err = who(ctx, ca, key); err != nil {
				t.Fatal(err)
			}
			if b, err = who(ctx, cb, key); err != nil {
				t.Fatal(err)
			}
			again, _ = who(ctx, ca, key)
			if a == b && a == again {
				break
			}
			if try == 2 {
				t.Fatalf("key %s went to %s and %s and %s: every node must agree", key, a, b, again)
			}
			t.Logf("key %s went to %s and %s and %s: trying again once every node sees the three providers", key, a, b, again)
		}
		seen[a] = true
	}
	if len(seen) != 3 {
		t.Fatalf("60 keys landed on %v: the ring should spread them over 3 providers", seen)
	}
	wctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := regA.WaitFor(wctx, func(s Snapshot) bool { return len(s.Members) == 5 }); err != nil {
		t.Fatalf("members: %+v: %v", regA.Members(), err)
	}
}

func TestManyServicesOnOneNode(t *testing.T) {
	p := startProvider(t, "big", nil, nil)
	reg, c := startConsumer(t, "consumer", []string{p.reg.GossipAddr()}, nil)
	var descs []*rpc.ServiceDesc
	for i := range 300 {
		d := &rpc.ServiceDesc{Name: fmt.Sprintf("example.com/a/very/long/import/path/for/a/service/package%03d/with/more/segments.ServiceWithALongName%03d", i, i),
			Methods: whoDesc.Methods}
		if err := p.server.Register(d, []rpc.Handler{whoHandler("big")}); err != nil {
			t.Fatal(err)
		}
		descs = append(descs, d)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := reg.WaitFor(ctx, func(s Snapshot) bool { return len(s.Services) == 301 })
	if err != nil {
		t.Fatalf("%v: sees %d services", err, len(reg.Snapshot().Services))
	}
	// A late consumer learns all 301 at once.
	late, _ := startConsumer(t, "late", []string{p.reg.GossipAddr()}, nil)
	if err := late.WaitFor(ctx, func(s Snapshot) bool { return len(s.Services) == 301 }); err != nil {
		t.Fatal(err)
	}
	call := c.NewCall(descs[299], 0)
	call.Args.String("k")
	d, err := c.Invoke(context.Background(), call)
	if err != nil {
		t.Fatal(err)
	}
	var who string
	d.String(&who)
	if err := d.Finish(); err != nil || who != "big" {
		t.Fatalf("%q %v", who, err)
	}
}

func TestKilledProviderFailsOver(t *testing.T) {
	nodes, seeds := cluster(t, 3)
	reg, c := startConsumer(t, "consumer", seeds, nil)
	providersOf(t, reg, whoDesc.Name, 3)
	ctx := context.Background()
	// Find a key owned by the provider about to die.
	victim := nodes[1]
	var key string
	for i := 0; key == ""; i++ {
		k := fmt.Sprintf("k%d", i)
		if n, _ := who(ctx, c, k); n == victim.name {
			key = k
		}
	}
	victim.stop() // no leave: its sockets just close
	for range 20 {
		n, err := who(ctx, c, key)
		if err != nil {
			t.Fatalf("call after the kill: %v", err)
		}
		if n == victim.name {
			t.Fatal("served by a dead provider")
		}
	}
	providersOf(t, reg, whoDesc.Name, 2)
}

func TestGracefulLeaveFailsNoCall(t *testing.T) {
	nodes, seeds := cluster(t, 3)
	reg, c := startConsumer(t, "consumer", seeds, nil)
	providersOf(t, reg, whoDesc.Name, 3)
	var calls, failures atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				calls.Add(1)
				if _, err := who(context.Background(), c, fmt.Sprintf("g%d-%d", g, i)); err != nil {
					failures.Add(1)
					t.Errorf("call failed during a graceful leave: %v", err)
					return
				}
			}
		})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := nodes[2].reg.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	providersOf(t, reg, whoDesc.Name, 2)
	close(stop)
	wg.Wait()
	if failures.Load() > 0 || calls.Load() == 0 {
		t.Fatalf("%d of %d calls failed", failures.Load(), calls.Load())
	}
}

func TestServiceRegisteredAfterJoinAndWatch(t *testing.T) {
	p := startProvider(t, "p", nil, nil)
	reg, _ := startConsumer(t, "c", []string{p.reg.GossipAddr()}, nil)
	events := make(chan Event, 64)
	stop := reg.Watch(func(e Event) { events <- e })
	defer stop()
	late := &rpc.ServiceDesc{Name: "test.Late", Methods: whoDesc.Methods}
	if err := p.server.Register(late, []rpc.Handler{whoHandler("p")}); err != nil {
		t.Fatal(err)
	}
	providersOf(t, reg, "test.Late", 1)
	deadline := time.After(10 * time.Second)
	for {
		select {
		case e := <-events:
			if e.Type == EventCatalog && e.Member.Name == "p" && strings.Contains(strings.Join(e.Member.Services, ","), "test.Late") {
				return
			}
		case <-deadline:
			t.Fatal("no catalog event for the late service")
		}
	}
}

func TestEncryption(t *testing.T) {
	key := []byte("0123456789abcdef")
	p := startProvider(t, "p", nil, func(o *Options) { o.SecretKey = key })
	reg, c := startConsumer(t, "c", []string{p.reg.GossipAddr()}, func(o *Options) { o.SecretKey = key })
	providersOf(t, reg, whoDesc.Name, 1)
	if n, err := who(context.Background(), c, "k"); err != nil || n != "p" {
		t.Fatalf("%q %v", n, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := Join(ctx, Options{NodeName: "intruder", Preset: Fast, Seeds: []string{p.reg.GossipAddr()}, SecretKey: []byte("fedcba9876543210"), Logger: quiet})
	if err == nil {
		t.Fatal("a node with the wrong key joined")
	}
	_, err = Join(ctx, Options{NodeName: "plain", Preset: Fast, Seeds: []string{p.reg.GossipAddr()}, Logger: quiet})
	if err == nil {
		t.Fatal("a node without the key joined an encrypted cluster")
	}
}

func TestJoinErrors(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{"unreachable seed", Options{Preset: Fast, Seeds: []string{"127.0.0.1:1"}}, "no seed answered"},
		{"server without address", Options{Preset: Fast, Server: rpc.NewServer(rpc.ServerOptions{})}, "RPCAddr is required"},
		{"bad key", Options{Preset: Fast, SecretKey: []byte("short")}, "16, 24 or 32"},
		{"load 1", Options{Preset: Fast, Ring: RingOptions{Load: 1}}, "must be above 1"},
		{"one virtual node", Options{Preset: Fast, Ring: RingOptions{ReplicationFactor: 1}}, "ReplicationFactor 1"},
		{"one partition", Options{Preset: Fast, Ring: RingOptions{PartitionCount: 1}}, "PartitionCount 1"},
		{"probe timeout", Options{Preset: Fast, ProbeTimeout: time.Second}, "must be shorter than registry.Options.ProbeInterval"},
		{"preset", Options{Preset: Preset(9)}, "unknown Preset"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.Logger = quiet
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			r, err := Join(ctx, tc.opts)
			if err == nil {
				r.Close()
				t.Fatal("joined")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("%v, want %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("the error spans lines: %q", err)
			}
		})
	}
}

func TestNoProviderAtOnce(t *testing.T) {
	reg, c := startConsumer(t, "alone", nil, func(o *Options) { o.ReadyWait = -1 })
	_, err := who(context.Background(), c, "k")
	if !errors.Is(err, rpc.ErrUnavailable) || !strings.Contains(err.Error(), "no provider of service test.Who") {
		t.Fatalf("%v", err)
	}
	_ = reg
}

func TestStrategies(t *testing.T) {
	_, seeds := cluster(t, 3)
	reg, _ := startConsumer(t, "c", seeds, nil)
	providersOf(t, reg, whoDesc.Name, 3)
	for _, s := range []Strategy{RoundRobin, Random} {
		c, err := rpc.NewClient(rpc.ClientOptions{Resolver: reg.WithStrategy(s)})
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]int{}
		for range 90 {
			n, err := who(context.Background(), c, "same-key")
			if err != nil {
				t.Fatal(err)
			}
			seen[n]++
		}
		c.Close()
		if len(seen) != 3 {
			t.Fatalf("strategy %d used %v for one key, want all three", s, seen)
		}
		// Each provider in turn: 30 calls each, give or take a call that a loaded
		// machine made fail over (a provider suspected for a moment).
		if s == RoundRobin && (abs(seen["p0"]-30) > 2 || abs(seen["p1"]-30) > 2 || abs(seen["p2"]-30) > 2) {
			t.Fatalf("round robin: %v", seen)
		}
	}
}

// A whole cluster shut down at once, as `make demo` ends: no node joins a leaving one
// again, and none waits for a leave broadcast that nobody is left to take.
func TestClusterShutsDownTogether(t *testing.T) {
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	nodes, _ := clusterWith(t, 3, func(o *Options) { o.Logger = log })
	for _, n := range nodes {
		providersOf(t, n.reg, whoDesc.Name, 3)
	}
	// A loaded machine may make the nodes suspect each other and rejoin before the
	// shutdown: only what they log from the shutdown on counts.
	before := len(logs.String())
	start := time.Now()
	var wg sync.WaitGroup
	for _, n := range nodes {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := n.reg.Shutdown(ctx); err != nil {
				t.Errorf("%s: %v", n.name, err)
			}
		})
	}
	wg.Wait()
	// Each waits LeavePropagation (10 gossip rounds) and its handlers; 5 s was the
	// leave broadcast's timeout.
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("the shutdown took %v", took)
	}
	during := logs.String()[before:]
	for _, bad := range []string{"rejoined a member", "the leave was not announced"} {
		if strings.Contains(during, bad) {
			t.Errorf("a node logged %q while shutting down:\n%s", bad, during)
		}
	}
}

func abs(n int) int { return max(n, -n) }

// A context that ends before the leave is done caps Shutdown and Leave all the same:
// they return at once, Shutdown still shuts the server down (with the ended context,
// which cuts it short) while Leave leaves it serving, gossip stops, and the error says
// that the leave was cut short. What memberlist does not let stop, its wait for the
// leave's broadcast, ends by itself, and Close waits for it.
func TestEndedContextCutsTheLeaveShort(t *testing.T) {
	// LAN gossips every 200 ms: the announcement and the leave take a few rounds each,
	// far beyond the bound.
	const bound = 250 * time.Millisecond
	for _, tc := range []struct {
		name string
		ctx  func(*Registry) (context.Context, context.CancelFunc)
	}{
		{"cancelled", func(*Registry) (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx, cancel
		}},
		{"deadline passed", func(*Registry) (context.Context, context.CancelFunc) {
			return context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
		}},
		{"cancelled during the announcement", func(*Registry) (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(50*time.Millisecond, cancel)
			return ctx, cancel
		}},
		{"cancelled during the leave's gossip", func(r *Registry) (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			go func() {
				select {
				case <-r.left: // memberlist's Leave waits for its broadcast from here
					cancel()
				case <-ctx.Done():
				}
			}()
			return ctx, cancel
		}},
	} {
		for _, op := range []string{"Shutdown", "Leave"} {
			t.Run(tc.name+"/"+op, func(t *testing.T) {
				lan := func(o *Options) { o.Preset = LAN; o.BindAddr = "127.0.0.1"; o.BindPort = -1 }
				nodes, _ := clusterWith(t, 2, lan)
				providersOf(t, nodes[0].reg, whoDesc.Name, 2)
				n := nodes[1]
				ctx, cancel := tc.ctx(n.reg)
				defer cancel()
				ended := make(chan time.Time, 1)
				context.AfterFunc(ctx, func() { ended <- time.Now() })
				done := make(chan error, 1)
				go func() {
					if op == "Shutdown" {
						done <- n.reg.Shutdown(ctx)
					} else {
						done <- n.reg.Leave(ctx)
					}
				}()
				var err error
				select {
				case err = <-done:
				case <-time.After(10 * time.Second):
					t.Fatalf("%s did not return within 10 s", op)
				}
				returned := time.Now()
				var endedAt time.Time
				select {
				case endedAt = <-ended:
				case <-time.After(10 * time.Second):
					t.Fatalf("the context never ended; %s returned %v", op, err)
				}
				if took := returned.Sub(endedAt); took > bound {
					t.Errorf("%s returned %v after its context ended, want at most %v", op, took, bound)
				}
				if !errors.Is(err, ctx.Err()) || !strings.Contains(err.Error(), "the leave was cut short") || !strings.Contains(err.Error(), "by probing") {
					t.Errorf("%s: %v, want the leave cut short by %v", op, err, ctx.Err())
				}
				if c, err := net.DialTimeout("tcp", n.reg.GossipAddr(), time.Second); err == nil {
					c.Close()
					t.Errorf("gossip still accepts connections after %s", op)
				}
				if op == "Shutdown" {
					select {
					case err := <-n.served:
						n.served <- err // for n.stop
					case <-time.After(bound):
						t.Error("the server still serves after Shutdown")
					}
				} else {
					direct, err := rpc.NewClient(rpc.ClientOptions{Resolver: rpc.StaticAddress(n.reg.opts.RPCAddr)})
					if err != nil {
						t.Fatal(err)
					}
					defer direct.Close()
					if got, err := who(context.Background(), direct, "k"); err != nil || got != n.name {
						t.Errorf("the server after Leave: %q %v", got, err)
					}
				}
				closed := make(chan error, 1)
				go func() { closed <- n.reg.Close() }()
				select {
				case <-closed:
				case <-time.After(10 * time.Second):
					t.Fatal("Close did not wait out the leave within 10 s")
				}
			})
		}
	}
}
