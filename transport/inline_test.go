package transport

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

// inlineServer serves codeEcho, which reports for each request whether its connection's
// reader runs it (after taking 2*inlineSlow when its body says "slow"), and codeBlock, which reports its start and waits for release whatever
// its context says, both in one pool of the given workers.
func inlineServer(t *testing.T, workers int) (s *Server, addr string, inline chan bool, started chan context.Context, release chan struct{}) {
	t.Helper()
	inline = make(chan bool, 100)
	started = make(chan context.Context, 100)
	release = make(chan struct{})
	var wp *workerPool
	s, addr = startServer(t, ServerOptions{}, func(s *Server) {
		must(t, s.RegisterDefaultProcessor(ProcessorFunc(func(ctx context.Context, c *Conn, req *Command) (*Command, error) {
			if req.Code == codeBlock {
				started <- ctx
				<-release
				return NewResponse(req, CodeSuccess, "released"), nil
			}
			if string(req.Body) == "slow" {
				time.Sleep(2 * inlineSlow) // the work of a slow processor
			}
			inline <- wp.runsInline(c, req)
			return NewResponse(req, CodeSuccess, ""), nil
		}), PoolOptions{Workers: workers}))
		wp = s.disp.def
	})
	t.Cleanup(func() { closeOnce(release) }) // before startServer's Close, which waits
	// A request runs inline in the place of a parked worker: on a loaded machine the
	// pool's workers may not all have parked yet when the first request comes.
	if !eventually(func() bool {
		wp.mu.Lock()
		defer wp.mu.Unlock()
		return wp.idle == workers
	}) {
		t.Fatalf("the pool's %d workers did not all park", workers)
	}
	return s, addr, inline, started, release
}

// invokeBlocked sends a codeBlock request on cl under ctx and returns the channel of
// its outcome.
func invokeBlocked(ctx context.Context, cl *Client, addr string) <-chan error {
	outcome := make(chan error, 1)
	cl.InvokeAsync(ctx, addr, NewRequest(codeBlock, nil, nil), func(_ *Command, err error) { outcome <- err })
	return outcome
}

// runsInline reports whether a reader runs req, of c, in wp.
func (wp *workerPool) runsInline(c *Conn, req *Command) bool {
	wp.mu.Lock()
	defer wp.mu.Unlock()
	for _, e := range wp.inlined {
		if e.t.conn == c && e.t.req == req {
			return true
		}
	}
	return false
}

// TestQuietRequestRunsOnItsReader: a request alone on its connection runs on the
// reader when its pool has a worker idle; one that arrives while another of its
// connection's is in flight goes to a worker.
func TestQuietRequestRunsOnItsReader(t *testing.T) {
	s, addr, inline, started, release := inlineServer(t, 4)
	cl := newTestClient(t, ClientOptions{})
	for range 3 {
		_, err := cl.InvokeSync(context.Background(), addr, NewRequest(codeEcho, nil, nil))
		must(t, err)
		if ran := <-inline; !ran && s.disp.def.slow.Load() == 0 {
			// (A loaded machine may hold a reader up past the watch's ticks, and the
			// pool back off, rightly.)
			t.Fatal("a request alone on its connection went to a worker")
		}
	}

	blocked := invokeBlocked(context.Background(), cl, addr)
	waitFor(t, started, "the blocking request")
	_, err := cl.InvokeSync(context.Background(), addr, NewRequest(codeEcho, nil, nil))
	must(t, err)
	if <-inline {
		t.Error("a request that came while another was in flight ran on the reader")
	}
	close(release)
	must(t, waitFor(t, blocked, "the blocking request's answer"))
}

// TestSlowInlineRequestHandsOnTheReading: a request run by its connection's reader
// that does not return does not stop the connection: the next requests on it are read
// and answered, and its own cancel notice reaches it.
func TestSlowInlineRequestHandsOnTheReading(t *testing.T) {
	_, addr, started, ended := cancelServer(t, ServerOptions{})
	cl := newTestClient(t, ClientOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	blocked := invokeBlocked(ctx, cl, addr)
	waitFor(t, started, "the blocking request")

	for range 10 {
		begin := time.Now()
		_, err := cl.InvokeSync(context.Background(), addr, NewRequest(codeEcho, nil, []byte("next")))
		must(t, err)
		if took := time.Since(begin); took > time.Second {
			t.Errorf("a request behind one that blocks on its connection took %v", took)
		}
	}
	cancel()
	waitFor(t, ended, "the blocking request's context to end on its cancel notice")
	if err := waitFor(t, blocked, "the cancelled call"); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled call: %v, want context.Canceled", err)
	}
}

// TestInlineRequestTakesAWorkersPlace: a pool never runs more processors at once than
// it has workers, counting those its readers run.
func TestInlineRequestTakesAWorkersPlace(t *testing.T) {
	s, addr, inline, started, release := inlineServer(t, 1)
	a := newTestClient(t, ClientOptions{})
	b := newTestClient(t, ClientOptions{})
	blocked := invokeBlocked(context.Background(), a, addr)
	waitFor(t, started, "the blocking request")

	answered := make(chan error, 1)
	b.InvokeAsync(context.Background(), addr, NewRequest(codeEcho, nil, nil), func(_ *Command, err error) { answered <- err })
	waitUntil(t, func() bool { return s.disp.def.queuedNow() == 1 })
	select {
	case <-inline:
		t.Fatal("a second connection's request ran while the pool's only worker's place was taken")
	case err := <-answered:
		t.Fatalf("a second connection's request was answered (%v) while the pool's only worker's place was taken", err)
	default:
	}
	close(release)
	must(t, waitFor(t, blocked, "the blocking request's answer"))
	must(t, waitFor(t, answered, "the queued request's answer"))
}

// TestShutdownCutsAnInlineRequestShort: Shutdown returns by its context's end while a
// request run by its connection's reader ignores its context, and says it runs.
func TestShutdownCutsAnInlineRequestShort(t *testing.T) {
	const limit = 100 * time.Millisecond
	s, addr, _, started, release := inlineServer(t, 4)
	cl := newTestClient(t, ClientOptions{})
	blocked := invokeBlocked(context.Background(), cl, addr)
	rctx := waitFor(t, started, "the blocking request")

	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	begin := time.Now()
	err := s.Shutdown(ctx)
	// Measured from the context's end: a stopwatch started after the context may
	// start late on a loaded machine.
	if end, _ := ctx.Deadline(); time.Since(end) > 50*time.Millisecond {
		t.Errorf("Shutdown returned %v after its context's end, want at most 50ms (it took %v)", time.Since(end), time.Since(begin))
	}
	var se *ShutdownError
	if !errors.As(err, &se) || se.Running != 1 {
		t.Fatalf("Shutdown: %v, want a *ShutdownError with 1 running", err)
	}
	waitFor(t, rctx.Done(), "the running request's context to end")
	if err := waitFor(t, blocked, "the cut call"); !errors.Is(err, ErrConnectionLost) {
		t.Errorf("call cut by Shutdown: %v, want ErrConnectionLost", err)
	}
	close(release)
	must(t, s.Close()) // waits for the request still running
}

// TestConnCloseDoesNotWaitForAnInlineRequest: closing a connection whose reader runs a
// request that ignores its context returns without waiting for that request.
func TestConnCloseDoesNotWaitForAnInlineRequest(t *testing.T) {
	s, addr, _, started, release := inlineServer(t, 4)
	cl := newTestClient(t, ClientOptions{})
	blocked := invokeBlocked(context.Background(), cl, addr)
	waitFor(t, started, "the blocking request")
	conns := s.Conns()
	if len(conns) != 1 {
		t.Fatalf("%d connections, want 1", len(conns))
	}
	closed := make(chan error, 1)
	go func() { closed <- conns[0].Close() }()
	must(t, waitFor(t, closed, "Conn.Close while its request runs"))
	if err := waitFor(t, blocked, "the call on the closed connection"); !errors.Is(err, ErrConnectionLost) {
		t.Errorf("call on a closed connection: %v, want ErrConnectionLost", err)
	}
	close(release)
}

// TestSlowInlineRunsBackOff: after requests run inline were slow, two in a row that
// returned late or one whose reading was handed on, their pool runs the next requests
// on workers.
func TestSlowInlineRunsBackOff(t *testing.T) {
	tests := []struct {
		name string
		slow func(t *testing.T, cl *Client, addr string, wp *workerPool, inline <-chan bool, started <-chan context.Context, release chan struct{})
	}{
		{"returned late twice", func(t *testing.T, cl *Client, addr string, wp *workerPool, inline <-chan bool, _ <-chan context.Context, _ chan struct{}) {
			for i := range 2 {
				if i == 1 && wp.slow.Load() > 0 {
					// On a loaded machine the first one's 200 µs took two ticks of the
					// watch, which handed its reading on: the pool backed off already.
					break
				}
				_, err := cl.InvokeSync(context.Background(), addr, NewRequest(codeEcho, nil, []byte("slow")))
				must(t, err)
				if !<-inline {
					t.Fatal("the slow request did not run inline")
				}
			}
		}},
		{"handed on", func(t *testing.T, cl *Client, addr string, _ *workerPool, inline <-chan bool, started <-chan context.Context, release chan struct{}) {
			blocked := invokeBlocked(context.Background(), cl, addr)
			waitFor(t, started, "the blocking request")
			// The next request is read once the reading is handed on.
			_, err := cl.InvokeSync(context.Background(), addr, NewRequest(codeEcho, nil, nil))
			must(t, err)
			<-inline
			close(release)
			must(t, waitFor(t, blocked, "the blocking request's answer"))
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, addr, inline, started, release := inlineServer(t, 4)
			cl := newTestClient(t, ClientOptions{})
			tc.slow(t, cl, addr, s.disp.def, inline, started, release)
			// A request counts toward the back-off when it could have run inline: one
			// that comes before the worker ahead of it counted its request answered
			// does not.
			for i := range inlineBackoff {
				_, err := cl.InvokeSync(context.Background(), addr, NewRequest(codeEcho, nil, nil))
				must(t, err)
				if <-inline {
					t.Fatalf("request %d after a slow one ran inline; the pool should back off for %d", i, inlineBackoff)
				}
			}
			for i := 0; ; i++ {
				_, err := cl.InvokeSync(context.Background(), addr, NewRequest(codeEcho, nil, nil))
				must(t, err)
				if <-inline {
					break
				}
				if i == 1000 {
					t.Fatal("requests still go to workers 1000 requests after a slow one")
				}
			}
		})
	}
}

// TestQuietConnectionsUnderMixedLoad: fast processors, slow ones (handed on), ones
// that call back over their own connection, callers that give up, and connections
// closed under them: every call ends, with a response or with the error of what
// happened to it, and the server is left with nothing in hand.
func TestQuietConnectionsUnderMixedLoad(t *testing.T) {
	s, addr := startServer(t, ServerOptions{}, func(s *Server) {
		must(t, s.RegisterDefaultProcessor(ProcessorFunc(func(ctx context.Context, c *Conn, req *Command) (*Command, error) {
			switch req.Body[0] {
			case 's':
				select {
				case <-time.After(3 * time.Millisecond):
				case <-ctx.Done():
				}
			case 'b':
				cctx, cancel := context.WithTimeout(ctx, time.Second)
				defer cancel()
				if _, err := c.InvokeSync(cctx, NewRequest(codeEcho, nil, []byte("back"))); err != nil {
					return nil, err
				}
			}
			return NewResponse(req, CodeSuccess, ""), nil
		}), PoolOptions{Workers: 2}))
	})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			cl := NewClient(ClientOptions{ConnOptions: ConnOptions{Logger: quiet}})
			must(t, cl.RegisterProcessor(codeEcho, echo, PoolOptions{Workers: 1}))
			defer cl.Close()
			rng := rand.New(rand.NewPCG(uint64(g), 1))
			for i := range 300 {
				limit := 2 * time.Second
				if rng.IntN(4) == 0 {
					limit = time.Duration(1+rng.IntN(5)) * time.Millisecond
				}
				ctx, cancel := context.WithTimeout(context.Background(), limit)
				kind := "fsb"[rng.IntN(3)]
				resp, err := cl.InvokeSync(ctx, addr, NewRequest(codeEcho, nil, []byte{kind}))
				cancel()
				switch {
				case err == nil && resp.Code != CodeSuccess && (kind != 'b' || resp.Code != CodeSystemError):
					// Only a call back that failed (its caller gave up) is answered an error.
					t.Errorf("call %d (%c) answered %d %q", i, kind, resp.Code, resp.Remark)
				case err != nil && !errors.Is(err, ErrTimeout) && !errors.Is(err, ErrConnectionLost) && !errors.Is(err, ErrClosed):
					t.Errorf("call %d: %v", i, err)
				}
				if g == 0 && i%50 == 49 {
					for _, c := range s.Conns() {
						if rng.IntN(2) == 0 {
							c.Close()
						}
					}
				}
			}
		})
	}
	wg.Wait()
	waitUntil(t, func() bool { return s.disp.running() == 0 })
	s.disp.def.mu.Lock()
	left := len(s.disp.def.inlined)
	s.disp.def.mu.Unlock()
	if left != 0 {
		t.Errorf("%d requests still counted as run by readers", left)
	}
}

// TestWatchRestsBesideALongRequest: a pool's watch stops ticking once the request
// whose reading it handed on is the only one left, however long that one runs.
func TestWatchRestsBesideALongRequest(t *testing.T) {
	s, addr, _, started, release := inlineServer(t, 4)
	cl := newTestClient(t, ClientOptions{})
	blocked := invokeBlocked(context.Background(), cl, addr)
	waitFor(t, started, "the blocking request")
	wp := s.disp.def
	waitUntil(t, func() bool {
		wp.mu.Lock()
		defer wp.mu.Unlock()
		return !wp.watching && len(wp.inlined) == 1
	})
	close(release)
	must(t, waitFor(t, blocked, "the blocking request's answer"))
}
