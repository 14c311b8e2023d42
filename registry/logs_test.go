package registry

import (
	"bytes"
	"context"
	"fmt"
	"log"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/ringrpc/ringrpc/rpc"
	"github.com/ringrpc/ringrpc/transport"
)

// syncBuffer is a log sink several goroutines write to.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// The registry logs at INFO the members that join, leave and fail, and each ring
// rebuild with the service, its providers and the share of keys that moved.
func TestMembershipIsLogged(t *testing.T) {
	var out syncBuffer
	logger := slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelInfo}))
	p1 := startProvider(t, "p1", nil, nil)
	seeds := []string{p1.reg.GossipAddr()}
	reg, _ := startConsumer(t, "c", seeds, func(o *Options) { o.Logger = logger })
	providersOf(t, reg, whoDesc.Name, 1)
	p2 := startProvider(t, "p2", seeds, nil)
	providersOf(t, reg, whoDesc.Name, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p2.reg.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	providersOf(t, reg, whoDesc.Name, 1)
	p1.stop() // killed: no leave
	providersOf(t, reg, whoDesc.Name, 0)
	logs := out.String()
	for _, want := range []string{
		`msg="registry: member joined" node=p2`,
		`msg="registry: ring rebuilt" service=` + whoDesc.Name + ` providers=2 moved=`,
		`msg="registry: ring rebuilt" service=` + whoDesc.Name + ` providers=1 moved=`,
		`msg="registry: member left" node=p2`,
		`msg="registry: member failed" node=p1`,
		`msg="registry: no provider of a service is left" service=` + whoDesc.Name,
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("the log does not say %s:\n%s", want, logs)
		}
	}
}

func TestMovedShare(t *testing.T) {
	opts := RingOptions{PartitionCount: 271, ReplicationFactor: 20, Load: 1.25}
	ring := func(nodes ...string) *serviceRing {
		t.Helper()
		var ps []provider
		for _, n := range nodes {
			ps = append(ps, provider{node: n, addr: n + ":1"})
		}
		sr, err := buildRing(ps, opts, 3)
		if err != nil {
			t.Fatal(err)
		}
		return sr
	}
	for _, tc := range []struct {
		name     string
		old, cur *serviceRing
		want     string
	}{
		{"a new service", nil, ring("a"), "100%"},
		{"unchanged", ring("a", "b"), ring("a", "b"), "0.0%"},
		{"one of one replaced", ring("a"), ring("b"), "100.0%"},
	} {
		if got := movedShare(tc.old, tc.cur); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
	// From one provider to two, and back: about half the keys move each way.
	for _, pair := range [][2]*serviceRing{{ring("a"), ring("a", "b")}, {ring("a", "b"), ring("a")}} {
		got := movedShare(pair[0], pair[1])
		var pct float64
		fmt.Sscanf(got, "%f%%", &pct)
		if pct < 25 || pct > 75 {
			t.Errorf("one provider to two or back moved %s of the keys", got)
		}
	}
}

// A provider set NOT_SERVING leaves every ring without leaving the cluster, no call
// fails meanwhile, and it takes its keys back when SERVING again.
func TestNotServingLeavesTheRings(t *testing.T) {
	nodes, seeds := cluster(t, 2)
	reg, c := startConsumer(t, "c", seeds, nil)
	providersOf(t, reg, whoDesc.Name, 2)
	nodes[0].server.SetServingStatus("", rpc.StatusNotServing)
	providersOf(t, reg, whoDesc.Name, 1)
	if got := reg.Snapshot().Services[whoDesc.Name]; len(got) != 1 || got[0].Node != nodes[1].name {
		t.Fatalf("the ring holds %v, want only %s", got, nodes[1].name)
	}
	member := false
	for _, m := range reg.Snapshot().Members {
		member = member || m.Name == nodes[0].name
	}
	if !member {
		t.Fatalf("a NOT_SERVING provider left the cluster: %v", reg.Snapshot().Members)
	}
	for i := range 20 {
		if got, err := who(context.Background(), c, fmt.Sprint("key", i)); err != nil || got != nodes[1].name {
			t.Fatalf("call %d while %s is NOT_SERVING: %q %v", i, nodes[0].name, got, err)
		}
	}
	nodes[0].server.SetServingStatus("", rpc.StatusServing)
	providersOf(t, reg, whoDesc.Name, 2)
}

// A service set NOT_SERVING on one provider takes that provider out of that
// service's ring only, within the preset's bound, while no call fails; SERVING again,
// it takes its keys back.
func TestServiceNotServingLeavesItsRingOnly(t *testing.T) {
	nodes, seeds := cluster(t, 3)
	otherDesc := whoDesc
	otherDesc.Name = "test.Other"
	for _, n := range nodes {
		if err := n.server.Register(&otherDesc, []rpc.Handler{whoHandler(n.name)}); err != nil {
			t.Fatal(err)
		}
	}
	reg, c := startConsumer(t, "c", seeds, nil)
	providersOf(t, reg, whoDesc.Name, 3)
	providersOf(t, reg, otherDesc.Name, 3)

	// Calls of both services go on throughout; none may fail.
	stop := make(chan struct{})
	failed := make(chan error, 1)
	var calls sync.WaitGroup
	for _, desc := range []*rpc.ServiceDesc{&whoDesc, &otherDesc} {
		calls.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				call := c.NewCall(desc, 0)
				key := fmt.Sprint("key", i%64)
				call.Args.String(key)
				call.SetRouteKey(key)
				if _, err := c.Invoke(context.Background(), call); err != nil {
					select {
					case failed <- fmt.Errorf("a call of %s failed: %w", desc.Name, err):
					default:
					}
				}
			}
		})
	}
	defer func() {
		close(stop)
		calls.Wait()
		select {
		case err := <-failed:
			t.Error(err)
		default:
		}
	}()

	const bound = 2 * time.Second // Fast; docs/OPERATIONS.md
	out := nodes[1]
	start := time.Now()
	out.server.SetServingStatus(whoDesc.Name, rpc.StatusNotServing)
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	err := reg.WaitFor(ctx, func(s Snapshot) bool { return !holds(s.Services[whoDesc.Name], out.name) })
	if err != nil {
		t.Fatalf("%s is still in the ring of %s %v after it said NOT_SERVING: %v", out.name, whoDesc.Name, bound, reg.Snapshot().Services[whoDesc.Name])
	}
	t.Logf("left the ring of %s after %v", whoDesc.Name, time.Since(start).Round(time.Millisecond))
	// The rings differ by out alone. Another provider may be off both for a
	// moment (a false dead verdict on a loaded machine), never off one only.
	s := reg.Snapshot()
	whoRing, otherRing := s.Services[whoDesc.Name], s.Services[otherDesc.Name]
	only := holds(otherRing, out.name) && !holds(whoRing, out.name) && len(whoRing) == len(otherRing)-1
	for _, o := range whoRing {
		only = only && holds(otherRing, o.Node)
	}
	if !only {
		t.Fatalf("after %s.%s went NOT_SERVING the rings are %v", out.name, whoDesc.Name, s.Services)
	}
	if len(otherRing) != 3 {
		t.Logf("%s holds %d providers: %v", otherDesc.Name, len(otherRing), s.Members)
	}
	for i := range 64 {
		if got, err := who(context.Background(), c, fmt.Sprint("key", i)); err != nil || got == out.name {
			t.Fatalf("call %d of %s while %s does not serve it: %q %v", i, whoDesc.Name, out.name, got, err)
		}
	}

	start = time.Now()
	out.server.SetServingStatus(whoDesc.Name, rpc.StatusServing)
	ctx, cancel = context.WithTimeout(context.Background(), bound)
	defer cancel()
	if err := reg.WaitFor(ctx, func(s Snapshot) bool { return holds(s.Services[whoDesc.Name], out.name) }); err != nil {
		t.Fatalf("%s did not come back to the ring of %s within %v of SERVING: %v", out.name, whoDesc.Name, bound, err)
	}
	t.Logf("back in the ring of %s after %v", whoDesc.Name, time.Since(start).Round(time.Millisecond))
	got := map[string]bool{}
	for i := range 64 {
		n, err := who(context.Background(), c, fmt.Sprint("key", i))
		if err != nil {
			t.Fatal(err)
		}
		got[n] = true
	}
	if !got[out.name] {
		t.Fatalf("%s took no key of %s back: %v", out.name, whoDesc.Name, got)
	}
}

func holds(owners []Ownership, node string) bool {
	for _, o := range owners {
		if o.Node == node {
			return true
		}
	}
	return false
}

// Two nodes under one name are logged at WARN, by a third node that sees both and
// by the node that tried to join under the taken name.
func TestNameConflictLoggedAtWarn(t *testing.T) {
	thirdLog, joinerLog := newWatchBuffer(), newWatchBuffer()
	third := startProvider(t, "third", nil, func(o *Options) {
		o.Logger = slog.New(slog.NewTextHandler(thirdLog, &slog.HandlerOptions{Level: slog.LevelInfo}))
	})
	seeds := []string{third.reg.GossipAddr()}
	startProvider(t, "dup", seeds, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	logger := slog.New(slog.NewTextHandler(joinerLog, &slog.HandlerOptions{Level: slog.LevelInfo}))
	r, err := Join(ctx, Options{NodeName: "dup", Preset: Fast, Seeds: seeds, Logger: logger})
	if err == nil {
		r.Close()
		t.Fatal("a second node named dup joined")
	}
	// The seed merges the joiner's state after it answered: its line may come later.
	thirdLog.waitFor(t, `level=WARN msg="registry: two nodes claim one name" node=dup`)
	joinerLog.waitFor(t, `level=WARN msg="registry: another node is alive under this node's name" node=dup`)
	for _, l := range []*watchBuffer{thirdLog, joinerLog} {
		for _, line := range strings.Split(l.String(), "\n") {
			if strings.Contains(line, "level=ERROR") && (strings.Contains(line, "name") || strings.Contains(line, "Conflicting")) {
				t.Errorf("a conflict of names logged at ERROR: %s", line)
			}
		}
	}
}

// memberlist tells of suspicions in its log lines and in the acks of its probes; the
// registry logs them at INFO in its own words, once per suspicion.
func TestSuspicionsAreLogged(t *testing.T) {
	var out syncBuffer
	logger := slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelInfo}))
	c := memberlist.DefaultLocalConfig()
	sus := newSuspicions(logger, c)
	w := slogWriter{logger, sus}
	write := func(line string) { fmt.Fprintf(w, "2026/01/02 15:04:05 %s\n", line) }
	ack := func(node string) { sus.NotifyPingComplete(&memberlist.Node{Name: node}, time.Millisecond, nil) }

	write("[INFO] memberlist: Suspect n1 has failed, no acks received")
	write("[INFO] memberlist: Suspect n1 has failed, no acks received") // probed again: one suspicion
	ack("n2")                                                           // not suspected: nothing to say
	ack("n1")
	ack("n1") // refuted already
	write("[INFO] memberlist: Suspect n3 has failed, no acks received")
	write("[INFO] memberlist: Marking n3 as failed, suspect timeout reached (2 peer confirmations)")
	ack("n3") // back after a failure: a join, not a refutation
	write("[WARN] memberlist: Refuting a suspect message (from: n4)")
	write("[WARN] memberlist: Refuting a suspect message (from: " + c.Name + ")") // in a state exchange
	write("[INFO] memberlist: Suspect n5 has failed, no acks received")
	sus.mu.Lock()
	sus.nodes["n5"] = time.Now().Add(-sus.stale) // memberlist settled it long ago
	sus.mu.Unlock()
	ack("n5")
	write("[INFO] memberlist: Suspect n6 has failed, no acks received")
	sus.forget("n6") // declared dead by another member's verdict, then back
	ack("n6")

	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	want := []string{
		`level=INFO msg="registry: member suspected: it did not answer this node's probes" node=n1`,
		`level=INFO msg="registry: suspected member answered again: the suspicion is refuted" node=n1 after=`,
		`level=INFO msg="registry: member suspected: it did not answer this node's probes" node=n3`,
		`level=INFO msg="registry: this node was suspected and refuted it" by=n4`,
		`level=INFO msg="registry: this node was suspected and refuted it"`,
		`level=INFO msg="registry: member suspected: it did not answer this node's probes" node=n5`,
		`level=INFO msg="registry: member suspected: it did not answer this node's probes" node=n6`,
	}
	if len(lines) != len(want) {
		t.Fatalf("logged %d lines, want %d:\n%s", len(lines), len(want), out.String())
	}
	for i, w := range want {
		if !strings.Contains(lines[i], w) {
			t.Errorf("line %d is %s\nwant %s", i, lines[i], w)
		}
	}
	if strings.Contains(lines[4], "by=") {
		t.Errorf("a refutation learnt in a state exchange names this node as the suspecter: %s", lines[4])
	}
}

// A killed member is suspected first: the member whose probe finds it silent says so.
func TestKilledMemberIsSuspected(t *testing.T) {
	var out syncBuffer
	logger := slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelInfo}))
	withLog := func(o *Options) { o.Logger = logger }
	p0 := startProvider(t, "p0", nil, withLog)
	seeds := []string{p0.reg.GossipAddr()}
	p1 := startProvider(t, "p1", seeds, withLog)
	p2 := startProvider(t, "p2", seeds, withLog)
	providersOf(t, p0.reg, whoDesc.Name, 3)
	providersOf(t, p1.reg, whoDesc.Name, 3)
	p2.stop()
	providersOf(t, p0.reg, whoDesc.Name, 2)
	providersOf(t, p1.reg, whoDesc.Name, 2)
	want := `level=INFO msg="registry: member suspected: it did not answer this node's probes" node=p2`
	if !strings.Contains(out.String(), want) {
		t.Fatalf("no node logged %s:\n%s", want, out.String())
	}
}

// watchBuffer is a log sink that says when something was written.
type watchBuffer struct {
	syncBuffer
	wrote chan struct{}
}

func newWatchBuffer() *watchBuffer { return &watchBuffer{wrote: make(chan struct{}, 1)} }

func (b *watchBuffer) Write(p []byte) (int, error) {
	n, err := b.syncBuffer.Write(p)
	select {
	case b.wrote <- struct{}{}:
	default:
	}
	return n, err
}

// waitFor waits until the buffer holds s, for at most 10 s.
func (b *watchBuffer) waitFor(t *testing.T, s string) {
	t.Helper()
	limit := time.After(10 * time.Second)
	for !strings.Contains(b.String(), s) {
		select {
		case <-b.wrote:
		case <-limit:
			t.Fatalf("the log never said %s:\n%s", s, b.String())
		}
	}
}

var panicDesc = rpc.ServiceDesc{Name: "test.Panic", Methods: []rpc.MethodDesc{{Name: "Panic", Results: []string{"string"}}}}

// The Logger given to a registry reaches the server given to it, and the server's
// connections, when they were given none: no line comes out in the standard log's
// format.
func TestOneLoggerReachesRPCAndTransport(t *testing.T) {
	std := newWatchBuffer()
	defer log.SetOutput(log.Writer())
	log.SetOutput(std)
	out := newWatchBuffer()
	logger := slog.New(slog.NewTextHandler(out, &slog.HandlerOptions{Level: slog.LevelInfo}))

	srv := rpc.NewServer(rpc.ServerOptions{}) // no logger, for rpc nor transport
	if err := srv.Register(&panicDesc, []rpc.Handler{func(context.Context, *rpc.Decoder, *rpc.Encoder) error { panic("on purpose") }}); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	defer func() { srv.Close(); <-served }()
	reg, err := Join(context.Background(), Options{NodeName: "one", Preset: Fast, Server: srv, RPCAddr: ln.Addr().String(), Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()

	c, err := rpc.NewClient(rpc.ClientOptions{Resolver: rpc.StaticAddress(ln.Addr().String()), Transport: transport.ClientOptions{ConnOptions: transport.ConnOptions{Logger: quiet}}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Invoke(context.Background(), c.NewCall(&panicDesc, 0)); rpc.CodeOf(err) != rpc.CodeInternal {
		t.Fatalf("the panicking call: %v", err)
	}
	out.waitFor(t, `level=ERROR msg="rpc: handler panicked" service=test.Panic`)

	bad, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	bad.Write([]byte{0, 0, 0, 1, 0, 0, 0, 0}) // a frame shorter than its header
	defer bad.Close()
	out.waitFor(t, `level=ERROR msg="transport: closing connection after a bad frame"`)
	if s := std.String(); s != "" {
		t.Fatalf("lines came out in the standard log's format:\n%s", s)
	}
}
