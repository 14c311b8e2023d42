package rpc

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ringrpc/ringrpc/transport"
)

// slowDesc's Block waits for its test to release it, ignoring its context; Quick
// returns at once. fastDesc's Ping returns at once.
var (
	slowDesc = ServiceDesc{Name: "example.com/isolation.Slow", Methods: []MethodDesc{{Name: "Block"}, {Name: "Quick"}}}
	fastDesc = ServiceDesc{Name: "example.com/isolation.Fast", Methods: []MethodDesc{{Name: "Ping"}}}
)

// stubborn serves slowDesc and fastDesc on loopback; started receives the context of
// each Block as it starts. release, closed by the test or at its end, lets them return.
func startStubborn(t *testing.T, opts ServerOptions) (s *Server, addr string, started chan context.Context, release chan struct{}) {
	t.Helper()
	started = make(chan context.Context, 100)
	release = make(chan struct{})
	opts.Logger = quiet
	opts.Transport.Logger = quiet
	s = NewServer(opts)
	quick := func(context.Context, *Decoder, *Encoder) error { return nil }
	block := func(ctx context.Context, _ *Decoder, _ *Encoder) error {
		started <- ctx
		<-release
		return nil
	}
	if err := s.Register(&slowDesc, []Handler{block, quick}); err != nil {
		t.Fatal(err)
	}
	if err := s.Register(&fastDesc, []Handler{quick}); err != nil {
		t.Fatal(err)
	}
	addr = serve(t, s.Serve, s.Close)
	t.Cleanup(func() { releaseOnce(release) }) // before serve's Close, which waits for Block
	return s, addr, started, release
}

func releaseOnce(ch chan struct{}) {
	select {
	case <-ch:
	default:
		close(ch)
	}
}

// latencies makes n calls of desc's method one after another and returns how long
// each took; any failure fails the test.
func latencies(t *testing.T, c *Client, desc *ServiceDesc, method, n int) []time.Duration {
	t.Helper()
	out := make([]time.Duration, n)
	for i := range out {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		begin := time.Now()
		_, err := c.Invoke(ctx, c.NewCall(desc, method))
		out[i] = time.Since(begin)
		cancel()
		if err != nil {
			t.Fatalf("call %d of %s.%s: %v", i, desc.Name, desc.Methods[method].Name, err)
		}
	}
	slices.Sort(out)
	return out
}

func quantile(sorted []time.Duration, q float64) time.Duration {
	return sorted[int(q*float64(len(sorted)-1))]
}

// TestSlowServiceDoesNotStarveOthers: a service (or a method) given a pool of its own
// whose handlers all block, queue full, leaves the other services' (or methods')
// latency as it was: over real TCP, the same client, the same connection.
func TestSlowServiceDoesNotStarveOthers(t *testing.T) {
	tests := []struct {
		name   string
		key    string
		probe  *ServiceDesc
		method int
	}{
		{"service", slowDesc.Name, &fastDesc, 0},
		{"method", slowDesc.Name + ".Block", &slowDesc, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const workers, queue = 2, 4
			_, addr, started, release := startStubborn(t, ServerOptions{
				Workers: 4, // the shared pool: as many workers as blocked calls would take them all
				Pools:   map[string]PoolOptions{tt.key: {Workers: workers, QueueSize: queue}},
			})
			_, c := newGreeterClient(t, ClientOptions{Resolver: StaticAddress(addr)})
			base := latencies(t, c, tt.probe, tt.method, 200)

			blocked := make(chan error, workers+queue)
			for range workers + queue {
				go func() {
					_, err := c.Invoke(context.Background(), c.NewCall(&slowDesc, 0))
					blocked <- err
				}()
			}
			for range workers {
				waitFor(t, started, "a blocking handler")
			}
			loaded := latencies(t, c, tt.probe, tt.method, 200)
			t.Logf("%s latency: median %v -> %v, p99 %v -> %v", tt.probe.Methods[tt.method].Name,
				quantile(base, .5), quantile(loaded, .5), quantile(base, .99), quantile(loaded, .99))
			// Generous bounds: the machine is shared. A starved call takes its whole 2 s.
			if m, b := quantile(loaded, .5), quantile(base, .5); m > 3*b+20*time.Millisecond {
				t.Errorf("median latency %v with the slow pool blocked, %v without", m, b)
			}
			if p, b := quantile(loaded, .99), quantile(base, .99); p > 10*b+200*time.Millisecond {
				t.Errorf("p99 latency %v with the slow pool blocked, %v without", p, b)
			}
			close(release)
			for range workers + queue {
				// Sent at once, some may find the queue full before a worker took
				// the first: those are turned away busy.
				if err := waitFor(t, blocked, "a released call"); err != nil && CodeOf(err) != CodeBusy {
					t.Errorf("blocked call: %v", err)
				}
			}
		})
	}
}

// TestOwnPoolFullIsBusy: calls beyond a service's own queue are answered busy, and
// only its own.
func TestOwnPoolFullIsBusy(t *testing.T) {
	_, addr, started, release := startStubborn(t, ServerOptions{
		Pools: map[string]PoolOptions{slowDesc.Name: {Workers: 1, QueueSize: 1}},
	})
	_, c := newGreeterClient(t, ClientOptions{Resolver: StaticAddress(addr)})
	// Requests sent on the client's one connection are read by the provider in order.
	tc := c.Transport()
	req := func(method string) *transport.Command {
		return transport.NewRequest(RequestCode, transport.Fields{
			{Key: HeaderInterface, Value: slowDesc.Name},
			{Key: HeaderMethod, Value: method},
		}, []byte("[]"))
	}
	blocked := make(chan *transport.Command, 2)
	block := func() {
		tc.InvokeAsync(context.Background(), addr, req("Block"), func(r *transport.Command, err error) {
			if err != nil {
				t.Error(err)
			}
			blocked <- r
		})
	}
	block()
	waitFor(t, started, "the slow service's worker")
	block() // waits in the slow service's queue
	if _, err := c.Invoke(context.Background(), c.NewCall(&fastDesc, 0)); err != nil {
		t.Errorf("another service's call while the slow one was full: %v", err)
	}
	resp, err := tc.InvokeSync(context.Background(), addr, req("Quick"))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Code != transport.CodeSystemBusy {
		t.Errorf("a call beyond the slow service's queue answered %v, want SYSTEM_BUSY", resp)
	}
	close(release)
	for range 2 {
		if r := waitFor(t, blocked, "a released call"); r != nil && r.Code != transport.CodeSuccess {
			t.Errorf("blocked call answered %v", r)
		}
	}
}

// TestExpiredInOwnPoolIsNotRun: load shedding by deadline works in a method's own
// pool as in the shared one.
func TestExpiredInOwnPoolIsNotRun(t *testing.T) {
	s, p, addr := startProbe(t, ServerOptions{Pools: map[string]PoolOptions{probeDesc.Name + ".Work": {Workers: 1}}})
	c := newProbeClient(t, addr)
	busy := invokeProbe(c, context.Background(), 3) // holds Work's only worker 1 s
	waitFor(t, p.started, "the worker to be busy")
	<-p.ran
	// Sent by the transport without a deadline of its own, so that no cancel notice
	// follows: only the carried deadline can stop it.
	req := transport.NewRequest(RequestCode, transport.Fields{
		{Key: HeaderInterface, Value: probeDesc.Name},
		{Key: HeaderMethod, Value: "Work"},
		{Key: headerTimeout, Value: "50"},
	}, []byte("[]"))
	resp, err := c.Transport().InvokeSync(context.Background(), addr, req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Code != toWire(CodeDeadlineExceeded) || !strings.Contains(resp.Remark, "expired in the provider's queue after") {
		t.Fatalf("expired call answered %v, want deadline_exceeded saying it expired in the queue", resp)
	}
	if err := waitFor(t, busy, "the first call"); err != nil {
		t.Fatal(err)
	}
	if n := s.expired.Load(); n != 1 {
		t.Fatalf("%d expired calls counted, want 1", n)
	}
	select {
	case name := <-p.ran:
		t.Fatalf("%s ran after its deadline passed in the queue", name)
	default:
	}
}

// TestShutdownCutShortByContext: handlers that ignore their context hold Shutdown no
// longer than its context; it says how many still ran, and their contexts end.
func TestShutdownCutShortByContext(t *testing.T) {
	const limit = 200 * time.Millisecond
	s, addr, started, release := startStubborn(t, ServerOptions{Pools: map[string]PoolOptions{slowDesc.Name: {Workers: 2}}})
	_, c := newGreeterClient(t, ClientOptions{Resolver: StaticAddress(addr)})
	calls := make(chan error, 2)
	for range 2 {
		go func() {
			_, err := c.Invoke(context.Background(), c.NewCall(&slowDesc, 0))
			calls <- err
		}()
	}
	running := []context.Context{waitFor(t, started, "a handler"), waitFor(t, started, "a handler")}
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	begin := time.Now()
	shut := make(chan error, 1)
	go func() { shut <- s.Shutdown(ctx) }()
	var err error
	select {
	case err = <-shut:
	case <-time.After(limit + 2*time.Second):
		releaseOnce(release)
		t.Fatalf("Shutdown with a %v context did not return within 2s of it", limit)
	}
	// Measured from the context's end: a stopwatch started after the context may
	// start late on a loaded machine.
	if end, _ := ctx.Deadline(); time.Since(end) > 50*time.Millisecond {
		t.Errorf("Shutdown returned %v after its context's end, want at most 50ms (it took %v)", time.Since(end), time.Since(begin))
	}
	var se *transport.ShutdownError
	if !errors.As(err, &se) || se.Running != 2 || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown: %v, want a *transport.ShutdownError with 2 handlers running", err)
	}
	for _, hctx := range running {
		waitFor(t, hctx.Done(), "a cut handler's context to end")
	}
	for range 2 {
		if err := waitFor(t, calls, "a cut call"); err == nil {
			t.Error("a call cut by Shutdown succeeded")
		}
	}
	close(release)
	if err := s.Close(); err != nil { // waits for the handlers
		t.Fatal(err)
	}
}

// TestUnmatchedPoolKeyIsLogged: a key of ServerOptions.Pools that no registered service
// or method took when Serve begins is logged, and the others are not.
func TestUnmatchedPoolKeyIsLogged(t *testing.T) {
	var logged strings.Builder
	s := NewServer(ServerOptions{
		Logger: slog.New(slog.NewTextHandler(&logged, nil)),
		Pools: map[string]PoolOptions{
			slowDesc.Name:                {},
			fastDesc.Name + ".Ping":      {},
			"example.com/isolation.Slwo": {},
		},
	})
	quick := func(context.Context, *Decoder, *Encoder) error { return nil }
	if err := s.Register(&slowDesc, []Handler{quick, quick}); err != nil {
		t.Fatal(err)
	}
	if err := s.Register(&fastDesc, []Handler{quick}); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	_, c := newGreeterClient(t, ClientOptions{Resolver: StaticAddress(ln.Addr().String())})
	if _, err := c.Invoke(context.Background(), c.NewCall(&fastDesc, 0)); err != nil {
		t.Fatal(err)
	}
	s.Close()
	waitFor(t, served, "Serve to return")
	out := logged.String()
	if !strings.Contains(out, "Slwo") || strings.Count(out, "ServerOptions.Pools names no service") != 1 {
		t.Errorf("log %q, want one warning, about the misspelt key", out)
	}
}
