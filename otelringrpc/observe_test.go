package otelringrpc_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/ringrpc/ringrpc/example/hello"
	"github.com/ringrpc/ringrpc/registry"
	"github.com/ringrpc/ringrpc/rpc"
	"github.com/ringrpc/ringrpc/transport"
)

// points is one collection: per metric name, its points' values by attribute set.
type points map[string]map[attribute.Distinct]point

type point struct {
	attrs attribute.Set
	value int64
}

func collect(t *testing.T, reader *sdkmetric.ManualReader) points {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	out := points{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if out[m.Name] == nil {
				out[m.Name] = map[attribute.Distinct]point{}
			}
			if d, ok := m.Data.(metricdata.Sum[int64]); ok {
				for _, p := range d.DataPoints {
					out[m.Name][p.Attributes.Equivalent()] = point{p.Attributes, p.Value}
				}
			}
		}
	}
	return out
}

// get returns the value of name's point whose attributes include kv (all of
// them summed), and whether there was one.
func (ps points) get(name string, kv ...attribute.KeyValue) (int64, bool) {
	var sum int64
	found := false
	for _, p := range ps[name] {
		match := true
		for _, want := range kv {
			if v, ok := p.attrs.Value(want.Key); !ok || v != want.Value {
				match = false
			}
		}
		if match {
			sum += p.value
			found = true
		}
	}
	return sum, found
}

func (ps points) want(t *testing.T, name string, want int64, kv ...attribute.KeyValue) {
	t.Helper()
	if got, ok := ps.get(name, kv...); !ok || got != want {
		t.Errorf("%s%v = %d (reported: %v), want %d", name, kv, got, ok, want)
	}
}

// holder is a Hello provider whose SayHello waits for release.
type holder struct {
	hop
	started chan struct{}
	release chan struct{}
}

func (h holder) SayHello(ctx context.Context, a, b string) (string, error) {
	if a == "hold" {
		h.started <- struct{}{}
		<-h.release
	}
	return "hello " + a + " " + b, nil
}

// A provider with one worker and a queue of one: a held call, a call waiting and
// then cancelled, a call answered busy. The observers report each where it is.
func TestObserveServerAndClient(t *testing.T) {
	tel := newTelemetry(t)
	h := holder{started: make(chan struct{}, 1), release: make(chan struct{})}
	opts := rpc.ServerOptions{Logger: quiet, Workers: 1, QueueSize: 1, Transport: transport.ServerOptions{ConnOptions: transport.ConnOptions{Logger: quiet}}}
	s := rpc.NewServer(opts)
	if err := hello.RegisterHelloServer(s, h); err != nil {
		t.Fatal(err)
	}
	addr := serveRPC(t, s)
	var once sync.Once
	free := func() { once.Do(func() { close(h.release) }) }
	t.Cleanup(free) // before the server's close, which waits for the handler
	srvReg, err := tel.inst.ObserveServer(s, attribute.String("server.address", addr))
	if err != nil {
		t.Fatal(err)
	}
	defer srvReg.Unregister()
	copts := rpc.ClientOptions{Resolver: rpc.StaticAddress(addr), Transport: transport.ClientOptions{ConnOptions: transport.ConnOptions{Logger: quiet}}}
	c, err := rpc.NewClient(copts)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cliReg, err := tel.inst.ObserveClient(c)
	if err != nil {
		t.Fatal(err)
	}
	defer cliReg.Unregister()
	hc := hello.NewHelloClient(c)

	held := goCall(hc, context.Background(), "hold")
	waitFor(t, h.started, "the held call to run")
	waitCtx, cancel := context.WithCancel(context.Background())
	waiting := goCall(hc, waitCtx, "wait")
	waitQueued(t, s, 1)
	cancel()
	if err := waitFor(t, waiting, "the cancelled call"); rpc.CodeOf(err) != rpc.CodeCanceled {
		t.Fatalf("cancelled call: %v", err)
	}
	// Its answer also proves the provider read the cancel notice sent before it.
	if _, err := hc.SayHello(context.Background(), "busy", "b"); err == nil {
		t.Fatal("a call beyond the queue was served, want it answered busy")
	}
	ps := collect(t, tel.reader)
	shared := attribute.String("ringrpc.pool", "shared")
	ps.want(t, "ringrpc.server.connections", 1, attribute.String("server.address", addr))
	ps.want(t, "ringrpc.server.requests.in_flight", 2)
	ps.want(t, "ringrpc.server.queue.depth", 1, shared)
	ps.want(t, "ringrpc.server.queue.capacity", 1, shared)
	ps.want(t, "ringrpc.server.busy", 1, shared)
	ps.want(t, "ringrpc.client.connections", 1)
	ps.want(t, "ringrpc.client.pending_calls", 1)

	free()
	if err := waitFor(t, held, "the held call"); err != nil {
		t.Fatal(err)
	}
	// One worker, in order: once the queue is empty the worker took the cancelled call,
	// and once the next call is answered, it was refused.
	waitQueued(t, s, 0)
	if _, err := hc.SayHello(context.Background(), "after", "b"); err != nil {
		t.Fatal(err)
	}
	// A worker counts its request answered, and a side counts its bytes, just after
	// the write that the other side may read first.
	receive, transmit := attribute.String("network.io.direction", "receive"), attribute.String("network.io.direction", "transmit")
	var read, sent int64
	eventually(func() bool {
		ps = collect(t, tel.reader)
		inflight, _ := ps.get("ringrpc.server.requests.in_flight")
		read, _ = ps.get("ringrpc.server.network.io", receive)
		sent, _ = ps.get("ringrpc.client.network.io", transmit)
		return inflight == 0 && read == sent
	})
	ps.want(t, "ringrpc.server.requests.in_flight", 0)
	ps.want(t, "ringrpc.server.queue.depth", 0, shared)
	ps.want(t, "ringrpc.server.shed", 1, attribute.String("ringrpc.reason", "cancelled"))
	ps.want(t, "ringrpc.server.shed", 0, attribute.String("ringrpc.reason", "expired"))
	ps.want(t, "ringrpc.client.pending_calls", 0)
	ps.want(t, "ringrpc.client.failovers", 0)
	if read == 0 || read != sent {
		t.Errorf("bytes: the server read %d, the client wrote %d", read, sent)
	}
}

// A call whose first provider refuses the connection moves once: the client's
// failovers and the attempts' ringrpc.failover attribute say so.
func TestObserveClientFailovers(t *testing.T) {
	tel := newTelemetry(t)
	addr := serve(t, tel, hop{})
	res, err := rpc.StaticList("127.0.0.1:1", addr)
	if err != nil {
		t.Fatal(err)
	}
	opts := rpc.ClientOptions{Resolver: res, Transport: transport.ClientOptions{ConnOptions: transport.ConnOptions{Logger: quiet}}}
	tel.inst.Client(&opts)
	c, err := rpc.NewClient(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	reg, err := tel.inst.ObserveClient(c)
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Unregister()
	if _, err := hello.NewHelloClient(c).SayHello(context.Background(), "a", "b"); err != nil {
		t.Fatal(err)
	}
	ps := collect(t, tel.reader)
	ps.want(t, "ringrpc.client.failovers", 1)
	ps.want(t, "ringrpc.client.attempts", 1, attribute.Bool("ringrpc.failover", true))
	ps.want(t, "ringrpc.client.attempts", 1, attribute.Bool("ringrpc.failover", false))
}

// A 3-node cluster: every member alive, the ring rebuilt, and a reported failure
// isolating one provider.
func TestObserveRegistry(t *testing.T) {
	tel := newTelemetry(t)
	var regs []*registry.Registry
	var seeds []string
	for i := range 3 {
		s := rpc.NewServer(rpc.ServerOptions{Logger: quiet, Transport: transport.ServerOptions{ConnOptions: transport.ConnOptions{Logger: quiet}}})
		if err := hello.RegisterHelloServer(s, hop{}); err != nil {
			t.Fatal(err)
		}
		addr := serveRPC(t, s)
		r, err := registry.Join(context.Background(), registry.Options{NodeName: fmt.Sprintf("n%d", i), Preset: registry.Fast, Seeds: seeds, Server: s, RPCAddr: addr, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		regs = append(regs, r)
		seeds = []string{regs[0].GossipAddr()}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := regs[0].WaitFor(ctx, func(s registry.Snapshot) bool {
		alive := 0
		for _, m := range s.Members {
			if m.State == registry.StateAlive {
				alive++
			}
		}
		return alive == 3 && len(s.Members) == 3 && len(s.Services[hello.HelloServiceName]) == 3
	})
	if err != nil {
		t.Fatalf("the cluster never settled: %v (members %v)", err, regs[0].Members())
	}
	reg, err := tel.inst.ObserveRegistry(regs[0])
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Unregister()
	regs[0].ReportFailure(regs[0].Snapshot().Services[hello.HelloServiceName][1].RPCAddr, errors.New("refused"))
	ps := collect(t, tel.reader)
	ps.want(t, "ringrpc.registry.members", 3, attribute.String("ringrpc.member.state", "alive"))
	ps.want(t, "ringrpc.registry.members", 0, attribute.String("ringrpc.member.state", "doubted"))
	ps.want(t, "ringrpc.registry.isolated_providers", 1)
	if n, _ := ps.get("ringrpc.registry.ring.rebuilds"); n < 1 {
		t.Errorf("ring rebuilds %d, want at least 1", n)
	}
}

func serveRPC(t *testing.T, s *rpc.Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	t.Cleanup(func() {
		s.Close()
		if err := <-done; !errors.Is(err, transport.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	})
	return ln.Addr().String()
}

func goCall(h hello.Hello, ctx context.Context, a string) <-chan error {
	done := make(chan error, 1)
	go func() {
		_, err := h.SayHello(ctx, a, "b")
		done <- err
	}()
	return done
}

func waitFor[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// waitQueued waits until exactly n calls wait for a worker of s.
func waitQueued(t *testing.T, s *rpc.Server, n int) {
	t.Helper()
	if !eventually(func() bool { return s.Stats().Transport.Queued == n }) {
		t.Fatalf("%d calls queued, want %d", s.Stats().Transport.Queued, n)
	}
}

// eventually reports whether cond holds within a generous bound, looking every
// millisecond.
func eventually(cond func() bool) bool {
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	give := time.After(10 * time.Second)
	for !cond() {
		select {
		case <-tick.C:
		case <-give:
			return false
		}
	}
	return true
}

// TestPoolNamesAreDocumented: every ringrpc.pool a server reports is one of the names
// docs/OPERATIONS.md, "Metrics", gives: the shared pool, the health service's, one of
// a processor registered on the transport server for a request code, the default
// processor's, and one of each pool made with transport.Server.NewPool, "pool N" in
// the order made, each a series of its own (they were all "code 0", summed into one).
func TestPoolNamesAreDocumented(t *testing.T) {
	doc, err := os.ReadFile("../docs/OPERATIONS.md")
	if err != nil {
		t.Fatal(err)
	}
	_, names, _ := strings.Cut(string(doc), "`ringrpc.pool` names a worker pool:")
	names, _, _ = strings.Cut(names, "\n\n")
	tel := newTelemetry(t)
	s := rpc.NewServer(rpc.ServerOptions{Logger: quiet})
	noop := transport.ProcessorFunc(func(context.Context, *transport.Conn, *transport.Command) (*transport.Command, error) {
		return nil, nil
	})
	slow, err := s.Transport().NewPool(noop, transport.PoolOptions{QueueSize: 11})
	if err != nil {
		t.Fatal(err)
	}
	bulk, err := s.Transport().NewPool(noop, transport.PoolOptions{QueueSize: 22})
	if err != nil {
		t.Fatal(err)
	}
	pick := func(req *transport.Command) *transport.Pool {
		if len(req.Body) > 100 {
			return bulk
		}
		return slow
	}
	if err := s.Transport().RegisterProcessor(77, noop, transport.PoolOptions{QueueSize: 44, Select: pick}); err != nil {
		t.Fatal(err)
	}
	if err := s.Transport().RegisterDefaultProcessor(noop, transport.PoolOptions{QueueSize: 55}); err != nil {
		t.Fatal(err)
	}
	serveRPC(t, s)
	r, err := tel.inst.ObserveServer(s)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Unregister()
	capacities := map[string]int64{}
	for _, p := range collect(t, tel.reader)["ringrpc.server.queue.capacity"] {
		v, _ := p.attrs.Value("ringrpc.pool")
		name := v.AsString()
		capacities[name] = p.value
		documented := name // "code 77" is documented as "code N"
		if i := strings.IndexAny(name, "0123456789"); i > 0 {
			documented = name[:i] + "N"
		}
		if !strings.Contains(names, "`"+documented+"`") {
			t.Errorf("ringrpc.pool %q is none of the names docs/OPERATIONS.md gives: %s", name, names)
		}
	}
	// The health service's pool is made first, then NewPool's two: the document says
	// what the first of a program's own is called.
	if !strings.Contains(strings.Join(strings.Fields(names), " "), "first pool of its own is `pool 2`") {
		t.Errorf("docs/OPERATIONS.md does not say that a program's first pool of its own is `pool 2`: %s", names)
	}
	want := map[string]int64{"shared": 10000, rpc.HealthService: capacities[rpc.HealthService], "code 77": 44, "default": 55, "pool 2": 11, "pool 3": 22}
	if !maps.Equal(capacities, want) {
		t.Errorf("ringrpc.server.queue.capacity by ringrpc.pool = %v, want %v", capacities, want)
	}
}
