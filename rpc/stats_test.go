package rpc

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/ringrpc/ringrpc/transport"
)

// TestServerStatsShed: behind a held worker, one call is cancelled by its caller and
// one expires; neither runs, and each is counted once, under its reason.
func TestServerStatsShed(t *testing.T) {
	s, p, addr := startProbe(t, ServerOptions{Workers: 1})
	sending := &sendingHook{methods: make(chan string, 10)}
	opts := ClientOptions{Resolver: StaticAddress(addr)}
	opts.Transport.Hooks = []transport.Hook{sending}
	_, c := newGreeterClient(t, opts)

	holdCtx, release := context.WithCancel(context.Background())
	held := invokeProbe(c, holdCtx, 0) // Block: holds the only worker until released
	waitFor(t, p.started, "the worker to be held")
	<-sending.methods
	cctx, cancel := context.WithCancel(context.Background())
	cancelled := invokeProbe(c, cctx, 1)
	waitFor(t, sending.methods, "the call to be sent")
	cancel()
	if err := waitFor(t, cancelled, "the cancelled call"); CodeOf(err) != CodeCanceled {
		t.Fatalf("cancelled call: %v", err)
	}
	// Sent with a deadline of 1ms and no cancel notice to follow: only the carried
	// deadline stops it.
	req := transport.NewRequest(RequestCode, transport.Fields{
		{Key: HeaderInterface, Value: probeDesc.Name}, {Key: HeaderMethod, Value: "Work"}, {Key: headerTimeout, Value: "1"},
	}, []byte("[]"))
	expired := make(chan *transport.Command, 1)
	c.Transport().InvokeAsync(context.Background(), addr, req, func(resp *transport.Command, err error) {
		if err != nil {
			t.Error(err)
		}
		expired <- resp
	})
	waitQueued(t, s, 2)
	waitFor(t, time.After(5*time.Millisecond), "the queued call's deadline") // it has passed once this ends
	release()
	if err := waitFor(t, held, "the held call"); CodeOf(err) != CodeCanceled {
		t.Fatalf("held call: %v", err)
	}
	if resp := waitFor(t, expired, "the expired call's answer"); resp == nil || resp.Code != toWire(CodeDeadlineExceeded) {
		t.Fatalf("expired call answered %v", resp)
	}
	st := s.Stats()
	if st.Expired != 1 || st.Cancelled != 1 {
		t.Fatalf("shed: %d expired, %d cancelled, want 1 each", st.Expired, st.Cancelled)
	}
	// A worker counts its request answered just after the write its caller may read
	// first.
	if !eventually(func() bool { st = s.Stats(); return st.Transport.InFlight == 0 }) || st.Transport.Queued != 0 || st.Transport.Conns != 1 {
		t.Fatalf("transport stats after: %+v", st.Transport)
	}
	if cs := c.Stats(); cs.Transport.Conns != 1 || cs.Transport.Pending != 0 || cs.Failovers != 0 {
		t.Fatalf("client stats after: %+v", cs)
	}
}

// waitQueued waits until n calls wait for a worker of s.
func waitQueued(t *testing.T, s *Server, n int) {
	t.Helper()
	if !eventually(func() bool { return s.Stats().Transport.Queued >= n }) {
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

// TestServerStatsPoolNames: the pools of ServerOptions.Pools carry their keys, and
// the health service's its name.
func TestServerStatsPoolNames(t *testing.T) {
	s, _, _ := startProbe(t, ServerOptions{Pools: map[string]PoolOptions{
		"probe":      {Workers: 2, QueueSize: 5},
		"probe.Work": {Workers: 3},
	}})
	got := map[string]PoolStats{}
	for _, p := range s.Stats().Pools {
		got[p.Name] = p
	}
	if len(got) != 4 || got[""].Code != RequestCode || got[""].Pool != nil || got[""].Workers != DefaultWorkers {
		t.Fatalf("pools %+v: want the shared one, the health service's and two named", got)
	}
	if p := got[HealthService]; p.Pool == nil || p.Workers != healthWorkers {
		t.Fatalf("health pool %+v", p)
	}
	if p := got["probe"]; p.Pool == nil || p.Workers != 2 || p.QueueSize != 5 {
		t.Fatalf("service pool %+v", p)
	}
	if p := got["probe.Work"]; p.Pool == nil || p.Workers != 3 || p.QueueSize != transport.DefaultQueueSize {
		t.Fatalf("method pool %+v", p)
	}
}

// TestClientStatsFailovers: a call whose first provider refuses the connection moves
// once, and the client counts it.
func TestClientStatsFailovers(t *testing.T) {
	_, _, addr := startGreeter(t, ServerOptions{})
	res, err := StaticList("127.0.0.1:1", addr)
	if err != nil {
		t.Fatal(err)
	}
	g, c := newGreeterClient(t, ClientOptions{Resolver: res})
	if _, err := g.SayHello(context.Background(), "a", "b"); err != nil {
		t.Fatal(err)
	}
	if st := c.Stats(); st.Failovers != 1 || st.Transport.Conns != 1 {
		t.Fatalf("client stats %+v, want 1 failover and 1 connection", st)
	}
}

// TestQueueExpiryIsCountedExpired: a ringrpc client sends a cancel notice when its
// deadline passes, so a call whose deadline passed in the queue has also been
// cancelled by the time a worker takes it. It is counted expired and answered
// deadline_exceeded all the same; a call its caller cancelled in the queue is counted
// cancelled. The method's figures count both, and a queued call's latency includes
// its time in the queue.
func TestQueueExpiryIsCountedExpired(t *testing.T) {
	s, g, addr := startGreeter(t, ServerOptions{Workers: 1})
	gc, _ := newGreeterClient(t, ClientOptions{Resolver: StaticAddress(addr)})
	s.MethodStats()
	hold := func(d time.Duration) (release func(), done chan struct{}) {
		done = make(chan struct{})
		ctx, cancel := context.WithTimeout(context.Background(), d)
		go func() {
			defer cancel()
			gc.Wait(ctx)
			close(done)
		}()
		waitFor(t, g.waiting, "the worker to be held")
		return cancel, done
	}
	_, done := hold(600 * time.Millisecond)
	if _, err := gc.SayHello(context.Background(), "a", "b"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, done, "the held call")
	// The worker is held until both calls are refused queued: one expires there, the
	// other is cancelled once it is queued.
	release, done := hold(time.Second) // Wait holds no longer
	defer release()
	ctx, cancel := context.WithTimeout(context.Background(), 400*time.Millisecond)
	if _, err := gc.SayHelloInteger(ctx, 1, 2); CodeOf(err) != CodeDeadlineExceeded {
		t.Fatalf("call expired in the queue: %v", err)
	}
	cancel()
	ctx, cancel = context.WithCancel(context.Background())
	cancelled := make(chan error, 1)
	go func() {
		_, err := gc.SayHelloInteger(ctx, 1, 2)
		cancelled <- err
	}()
	waitQueued(t, s, 2)
	cancel()
	if err := waitFor(t, cancelled, "the cancelled call"); CodeOf(err) != CodeCanceled {
		t.Fatalf("call cancelled in the queue: %v", err)
	}
	release()
	waitFor(t, done, "the held call")
	var st ServerStats
	if !eventually(func() bool { st = s.Stats(); return st.Expired+st.Cancelled == 2 }) {
		t.Fatalf("shed: %d expired, %d cancelled; want the worker to refuse both queued calls", st.Expired, st.Cancelled)
	}
	if st.Expired != 1 || st.Cancelled != 1 {
		t.Errorf("shed: %d expired, %d cancelled; want 1 each", st.Expired, st.Cancelled)
	}
	// The method's figures are counted before the server's: they count both now.
	stats := map[string]MethodStats{}
	for _, m := range s.MethodStats() {
		stats[m.Method] = m
	}
	if m := stats["SayHello"]; m.Calls != 1 || m.P50 < 250*time.Millisecond {
		t.Errorf("SayHello queued most of 600 ms: %+v, want its latency to include the queue", m)
	}
	if m := stats["SayHelloInteger"]; m.Calls != 2 || m.Codes["deadline_exceeded"] != 1 || m.Codes["canceled"] != 1 {
		t.Errorf("SayHelloInteger refused in the queue: %+v", m)
	}
}

// TestExpiredNoticeCountsExpired: a provider starts a call's deadline as the request
// arrives, a little after its caller did, so when its caller's deadline passes and
// the cancel notice comes, some of the provider's own may be left. The notice says
// the deadline passed (ringrpc.expired): a call a worker takes after it is counted
// expired and answered deadline_exceeded, whatever the provider's clock says. Here
// the provider has 10 s left.
func TestExpiredNoticeCountsExpired(t *testing.T) {
	s, _, addr := startGreeter(t, ServerOptions{Workers: 1})
	gc, _ := newGreeterClient(t, ClientOptions{Resolver: StaticAddress(addr)})
	// Two calls hold the only worker and queue behind it (one may run on its
	// connection's reader instead), so that the request cannot run before the
	// notice: the ping's answer says the notice was read.
	ctx, release := context.WithTimeout(context.Background(), time.Second) // Wait holds within 1 s
	var held sync.WaitGroup
	for range 2 {
		held.Go(func() { gc.Wait(ctx) })
	}
	defer func() { release(); held.Wait() }()
	if !eventually(func() bool { return s.Stats().Transport.Queued == 1 }) {
		t.Fatalf("the held calls do not fill the pool: %+v", s.Stats().Transport)
	}
	p := wireDial(t, addr)
	p.send(
		wireFrame(1, wireHeader(0, 5, 0, HeaderInterface, greeterDesc.Name, HeaderMethod, "SayHello", headerTimeout, "10000"), []byte(`["a","b"]`)),
		wireFrame(1, wireHeader(7701, 6, 2, "ringrpc.opaque", "5", "ringrpc.expired", "1"), nil),
		wireFrame(1, wireHeader(7700, 7, 0), nil), // its answer comes once the notice is applied
	)
	if m := p.next(); m.Opaque != 7 {
		t.Fatalf("answer %v, want the ping's", m)
	}
	release()
	m := p.next()
	if m.Opaque != 5 || m.Code != toWire(CodeDeadlineExceeded) {
		t.Fatalf("answer %v, want deadline_exceeded (%d) for opaque 5", m, toWire(CodeDeadlineExceeded))
	}
	// The queued Wait, released, may be counted cancelled.
	if st := s.Stats(); st.Expired != 1 {
		t.Fatalf("shed: %d expired, %d cancelled; want this request expired", st.Expired, st.Cancelled)
	}
}
