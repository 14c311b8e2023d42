package transport

import (
	"context"
	"errors"
	"testing"
	"time"
)

// ownPoolServer serves codeEcho with echo on a pool of 2 workers; its selector gives
// requests whose body is "own" to a pool of their own (2 workers, queue of 20), whose
// processor waits for release or its context. The server's caps are small:
// MaxConnInflight 4, MaxInflight 8.
func ownPoolServer(t *testing.T, opts ServerOptions) (s *Server, addr string, running chan struct{}, release chan struct{}) {
	t.Helper()
	running = make(chan struct{}, 100)
	release = make(chan struct{})
	t.Cleanup(func() { closeOnce(release) })
	opts.MaxConnInflight, opts.MaxInflight = 4, 8
	s, addr = startServer(t, opts, func(s *Server) {
		own, err := s.NewPool(ProcessorFunc(func(ctx context.Context, _ *Conn, req *Command) (*Command, error) {
			running <- struct{}{}
			select {
			case <-release:
			case <-ctx.Done():
			}
			return NewResponse(req, CodeSuccess, ""), nil
		}), PoolOptions{Workers: 2, QueueSize: 20})
		must(t, err)
		must(t, s.RegisterProcessor(codeEcho, echo, PoolOptions{Workers: 2, Select: func(req *Command) *Pool {
			if string(req.Body) == "own" {
				return own
			}
			return nil
		}}))
	})
	return s, addr, running, release
}

// fillOwn sends n requests for the own pool of ownPoolServer, each answered to done:
// two that take its workers first, so that the others are queued, in order.
func fillOwn(t *testing.T, cl *Client, addr string, running chan struct{}, n int, done func(*Command, error)) {
	t.Helper()
	for i := range n {
		cl.InvokeAsync(context.Background(), addr, NewRequest(codeEcho, nil, []byte("own")), done)
		if i < 2 {
			waitFor(t, running, "a request running in the own pool")
		}
	}
}

// waitCounted waits until every request s took is counted back: none in flight,
// none in own pools, no connection with requests in flight. A closed server does not
// count its connections back: they are gone.
func waitCounted(t *testing.T, s *Server) {
	t.Helper()
	d := s.disp
	counts := func() (inflight, pooled, active int64) {
		return d.inflight.Load() &^ drainBit, d.pooled.Load(), d.active.Load()
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		inflight, pooled, active := counts()
		if s.isClosed() {
			active = 0
		}
		var conns []string
		for _, c := range s.Conns() {
			if n, p := c.flow.inflight.Load(), c.flow.pooled.Load(); n != 0 || p != 0 {
				conns = append(conns, c.addr)
			}
		}
		if inflight == 0 && pooled == 0 && active == 0 && len(conns) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("10 s after the last answer: %d requests in flight, %d in own pools, %d connections active, %v still counting requests", inflight, pooled, active, conns)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestOwnPoolRequestsBypassInflightCaps: requests a selector gives a pool of its own
// count toward neither MaxConnInflight nor MaxInflight: with far more of them blocked
// than either cap, the same connection's requests for the code's own pool are still
// read and answered, another connection is not held to its minimum share, and a
// full own pool answers SYSTEM_BUSY at once. Each connection queues at most
// MaxConnInflight (4) there: beyond, its requests are answered SYSTEM_BUSY while
// another connection's are still queued.
func TestOwnPoolRequestsBypassInflightCaps(t *testing.T) {
	s, addr, running, release := ownPoolServer(t, ServerOptions{})
	ctx := context.Background()
	const held = 22 // 2 running, 20 queued: over MaxConnInflight 4 and MaxInflight 8
	answers := make(chan error, held)
	answered := func(r *Command, err error) {
		if err == nil && r.Code != CodeSuccess {
			err = errors.New(r.Remark)
		}
		answers <- err
	}
	busyOn := func(cl *Client, what string) {
		t.Helper()
		r, err := cl.InvokeSync(ctx, addr, NewRequest(codeEcho, nil, []byte("own")))
		if err != nil || r.Code != CodeSystemBusy {
			t.Errorf("a request for the own pool, %s: %v, code %v; want SYSTEM_BUSY", what, err, r)
		}
	}
	// The first connection takes both workers and its part of the queue.
	first := newTestClient(t, ClientOptions{})
	fillOwn(t, first, addr, running, 6, answered)
	waitUntil(t, func() bool { return s.Stats().Queued == 4 })
	busyOn(first, "its connection's part of the queue full")
	// Four more connections fill the rest.
	for range 4 {
		cl := newTestClient(t, ClientOptions{})
		for range 4 {
			cl.InvokeAsync(ctx, addr, NewRequest(codeEcho, nil, []byte("own")), answered)
		}
	}
	waitUntil(t, func() bool { return s.Stats().Queued == held-2 })
	busyOn(newTestClient(t, ClientOptions{}), "the queue full")
	for i := range 20 {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		r, err := first.InvokeSync(cctx, addr, NewRequest(codeEcho, nil, []byte("echo")))
		cancel()
		if err != nil || string(r.Body) != "echo" {
			t.Fatalf("request %d for the code's pool with %d held in the own pool: %v", i, held, err)
		}
	}
	// The last echo's answer may reach the client before its worker counts it done.
	waitUntil(t, func() bool { return s.disp.accepted() == 0 }) // the own pool's count for nothing
	close(release)
	for range held {
		if err := waitFor(t, answers, "a held request's answer"); err != nil {
			t.Errorf("a held request: %v", err)
		}
	}
	waitCounted(t, s)
}

// TestOwnPoolRequestsCountedBackOnce: every request given an own pool is counted back
// exactly once, whichever way it ends: answered by a worker, run on a quiet
// connection's reader, answered busy, cancelled by its caller, oneway, or dropped and
// cut by Close.
func TestOwnPoolRequestsCountedBackOnce(t *testing.T) {
	own := func() *Command { return NewRequest(codeEcho, nil, []byte("own")) }
	tests := []struct {
		name string
		run  func(t *testing.T, s *Server, addr string, cl *Client, running, release chan struct{})
	}{
		{"alone, run on the reader", func(t *testing.T, s *Server, addr string, cl *Client, running, release chan struct{}) {
			close(release)
			for range 5 {
				if _, err := cl.InvokeSync(context.Background(), addr, own()); err != nil {
					t.Fatal(err)
				}
			}
		}},
		{"busy and answered", func(t *testing.T, s *Server, addr string, cl *Client, running, release chan struct{}) {
			errs := make(chan error, 30)
			fillOwn(t, cl, addr, running, 30, func(_ *Command, err error) { errs <- err }) // 24 answered busy
			waitUntil(t, func() bool { return s.Stats().Busy == 24 })
			close(release)
			for range 30 {
				must(t, waitFor(t, errs, "an answer"))
			}
		}},
		{"cancelled", func(t *testing.T, s *Server, addr string, cl *Client, running, release chan struct{}) {
			ctx, cancel := context.WithCancel(context.Background())
			errs := make(chan error, 6)
			for i := range 6 {
				cl.InvokeAsync(ctx, addr, own(), func(_ *Command, err error) { errs <- err })
				if i < 2 {
					waitFor(t, running, "a request running in the own pool")
				}
			}
			waitUntil(t, func() bool { return s.Stats().Queued == 4 })
			cancel()
			for range 6 {
				waitFor(t, errs, "a cancelled call")
			}
			close(release)
		}},
		{"oneway", func(t *testing.T, s *Server, addr string, cl *Client, running, release chan struct{}) {
			for i := range 6 {
				must(t, cl.InvokeOneway(context.Background(), addr, own()))
				if i < 2 {
					waitFor(t, running, "a request running in the own pool")
				}
			}
			waitUntil(t, func() bool { return s.Stats().Queued == 4 })
			close(release)
		}},
		{"dropped by Close", func(t *testing.T, s *Server, addr string, cl *Client, running, release chan struct{}) {
			fillOwn(t, cl, addr, running, 6, func(*Command, error) {})
			waitUntil(t, func() bool { return s.Stats().Queued == 4 })
			must(t, s.Close())
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, addr, running, release := ownPoolServer(t, ServerOptions{})
			cl := newTestClient(t, ClientOptions{})
			tt.run(t, s, addr, cl, running, release)
			waitCounted(t, s)
		})
	}
}

// TestRefusedConnectionsAllLogged: docs/OPERATIONS.md: "`refusing connections` is
// logged at most once a second with the count". A burst of refusals is one line at
// once and one a second later with the rest; a burst cut short by Close is logged as
// the server closes.
func TestRefusedConnectionsAllLogged(t *testing.T) {
	for _, closeEarly := range []bool{false, true} {
		logs := newLogSink()
		s, addr := startServer(t, ServerOptions{MaxConns: 1, ConnOptions: ConnOptions{Logger: logs.logger()}}, nil)
		held := rawDial(t, addr)
		f, _ := AppendFrame(nil, &Command{Code: codePing}, SerializeRocketMQ)
		_, err := held.Write(f)
		must(t, err)
		readRawFrame(t, held) // held is open and counted
		const burst = 10
		for range burst {
			nc := rawDial(t, addr)
			nc.SetReadDeadline(time.Now().Add(5 * time.Second))
			var b [1]byte
			if n, err := nc.Read(b[:]); n > 0 || isTimeout(err) {
				t.Fatalf("a connection beyond MaxConns: read %d bytes, %v", n, err)
			}
		}
		if closeEarly {
			must(t, s.Close())
		}
		recs := logs.waitCount(t, "refusing connections", 2, 5*time.Second)
		var total int64
		for _, r := range recs {
			n, _ := attrInt(r, "refused")
			total += n
		}
		if total != burst || len(recs) != 2 {
			t.Errorf("close early %v: %d connections refused; %d log lines report %d of them", closeEarly, burst, len(recs), total)
		}
		if gap := recs[1].Time.Sub(recs[0].Time); !closeEarly && gap < 900*time.Millisecond {
			t.Errorf("two refusal lines %v apart, want a second", gap)
		}
	}
}
