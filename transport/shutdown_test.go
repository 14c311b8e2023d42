package transport

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// stubbornServer serves codeBlock with a processor that ignores its context: it returns
// only when release closes. started receives each request's context as it runs.
func stubbornServer(t *testing.T, pool PoolOptions) (*Server, string, chan context.Context, chan struct{}) {
	t.Helper()
	started := make(chan context.Context, 100)
	release := make(chan struct{})
	s, addr := startServer(t, ServerOptions{}, func(s *Server) {
		must(t, s.RegisterProcessor(codeEcho, echo, PoolOptions{}))
		must(t, s.RegisterProcessor(codeBlock, ProcessorFunc(func(ctx context.Context, _ *Conn, req *Command) (*Command, error) {
			started <- ctx
			<-release
			return NewResponse(req, CodeSuccess, "released"), nil
		}), pool))
	})
	// Registered after startServer's, so it runs first: Close waits for the handlers.
	t.Cleanup(func() { closeOnce(release) })
	return s, addr, started, release
}

func closeOnce(ch chan struct{}) {
	select {
	case <-ch:
	default:
		close(ch)
	}
}

// queueBlocked sends n blocking requests on one connection, then an echo on the same
// connection: the server reads in order, so once the echo is answered, all n have been
// handed to their pool. Each request's outcome goes to the returned channel.
func queueBlocked(t *testing.T, cl *Client, addr string, n int) chan error {
	t.Helper()
	outcomes := make(chan error, n)
	for range n {
		cl.InvokeAsync(context.Background(), addr, NewRequest(codeBlock, nil, nil), func(_ *Command, err error) { outcomes <- err })
	}
	_, err := cl.InvokeSync(context.Background(), addr, NewRequest(codeEcho, nil, nil))
	must(t, err)
	return outcomes
}

// TestShutdownBoundedWhateverHandlersDo: handlers that ignore their context do not hold
// Shutdown past its context; it cancels their contexts, closes their connections and
// says what it cut short.
func TestShutdownBoundedWhateverHandlersDo(t *testing.T) {
	const limit = 200 * time.Millisecond
	s, addr, started, release := stubbornServer(t, PoolOptions{Workers: 2, QueueSize: 10})
	cl := newTestClient(t, ClientOptions{})
	outcomes := queueBlocked(t, cl, addr, 5)
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
		closeOnce(release)
		t.Fatalf("Shutdown with a %v context did not return within %v of it while handlers ignored their context", limit, 2*time.Second)
	}
	// Measured from the context's end: a stopwatch started after the context may
	// start late on a loaded machine.
	if end, _ := ctx.Deadline(); time.Since(end) > 50*time.Millisecond {
		t.Errorf("Shutdown returned %v after its context's end, want at most 50ms (it took %v)", time.Since(end), time.Since(begin))
	}
	var se *ShutdownError
	if !errors.As(err, &se) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown: %v, want a *ShutdownError matching context.DeadlineExceeded", err)
	}
	if se.Cut != 2 || se.Streams != 0 || se.Running != 2 || se.Dropped != 3 {
		t.Errorf("Shutdown reported %d cut, %d streams, %d running and %d dropped, want 2, 0, 2 and 3", se.Cut, se.Streams, se.Running, se.Dropped)
	}
	for _, want := range []string{"2 handlers cut (0 serving a stream), 2 still running", "3 queued requests dropped"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Shutdown error %q does not say %q", err, want)
		}
	}
	t.Logf("Shutdown after %v: %v", time.Since(begin), err)
	for _, rctx := range running {
		waitFor(t, rctx.Done(), "a running handler's context to end")
	}
	for range 5 {
		if err := waitFor(t, outcomes, "a cut call"); !errors.Is(err, ErrConnectionLost) || !strings.Contains(err.Error(), "the peer shut down") {
			t.Errorf("call cut by Shutdown: %v, want ErrConnectionLost saying that the peer shut down", err)
		}
	}
	closeOnce(release)
	must(t, s.Close()) // waits for the handlers that were still running
	select {
	case ctx := <-started:
		t.Errorf("a dropped request ran after Shutdown (context err %v)", ctx.Err())
	default:
	}
}

// TestShutdownTwice: a second Shutdown, and one after Close, return without waiting.
func TestShutdownTwice(t *testing.T) {
	s, _ := startServer(t, ServerOptions{}, func(s *Server) { must(t, s.RegisterProcessor(codeEcho, echo, PoolOptions{})) })
	must(t, s.Shutdown(context.Background()))
	must(t, s.Shutdown(context.Background()))
	must(t, s.Close())
	must(t, s.Shutdown(context.Background()))
}

// acceptErrors is a listener whose Accept first returns the queued errors.
type acceptErrors struct {
	net.Listener
	errs    chan error
	always  error // returned forever once errs is empty, when set
	refused chan struct{}
}

func (l *acceptErrors) Accept() (net.Conn, error) {
	select {
	case err := <-l.errs:
		l.refused <- struct{}{}
		return nil, err
	default:
	}
	if l.always != nil {
		l.refused <- struct{}{}
		return nil, l.always
	}
	return l.Listener.Accept()
}

func acceptError(errno syscall.Errno) error {
	return &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept", errno)}
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

// TestServeSurvivesTemporaryAcceptErrors: an accept that fails for want of descriptors
// or because a peer gave up makes Serve wait a little and accept again.
func TestServeSurvivesTemporaryAcceptErrors(t *testing.T) {
	for name, err := range map[string]error{
		"EMFILE":       acceptError(syscall.EMFILE),
		"ENFILE":       acceptError(syscall.ENFILE),
		"ECONNABORTED": acceptError(syscall.ECONNABORTED),
		"ENOMEM":       acceptError(syscall.ENOMEM),
		"ENOBUFS":      acceptError(syscall.ENOBUFS),
		"ECONNRESET":   acceptError(syscall.ECONNRESET),
		"EINTR":        acceptError(syscall.EINTR),
		"timeout":      &net.OpError{Op: "accept", Net: "tcp", Err: timeoutErr{}},
	} {
		t.Run(name, func(t *testing.T) {
			logs := newLogSink()
			s := NewServer(ServerOptions{ConnOptions: ConnOptions{Logger: logs.logger()}})
			must(t, s.RegisterProcessor(codeEcho, echo, PoolOptions{}))
			raw, lerr := Listen("127.0.0.1:0")
			must(t, lerr)
			ln := &acceptErrors{Listener: raw, errs: make(chan error, 3), refused: make(chan struct{}, 100)}
			for range 3 {
				ln.errs <- err
			}
			served := make(chan error, 1)
			go func() { served <- s.Serve(ln) }()
			cl := newTestClient(t, ClientOptions{})
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			resp, cerr := cl.InvokeSync(ctx, raw.Addr().String(), NewRequest(codeEcho, nil, []byte("after")))
			if cerr != nil || string(resp.Body) != "after" {
				t.Errorf("call after %d accept errors: %v, %v", cap(ln.errs), resp, cerr)
			}
			// One more failure after the accept that succeeded pauses 5 ms again: the
			// loop is blocked in the listener's Accept, which a new connection ends.
			ln.errs <- err
			rawDial(t, raw.Addr().String())
			logs.waitCount(t, "accept failed", 4, 10*time.Second)
			want := []time.Duration{5 * time.Millisecond, 10 * time.Millisecond, 20 * time.Millisecond, 5 * time.Millisecond}
			if got := acceptPauses(t, logs); !slices.Equal(got, want) {
				t.Errorf("accept pauses %v, want %v", got, want)
			}
			select {
			case serr := <-served:
				t.Fatalf("Serve returned %v on a temporary accept error", serr)
			default:
			}
			// Out of descriptors, the log says what to do.
			hinted := false
			for _, r := range logs.matching("accept failed") {
				r.Attrs(func(a slog.Attr) bool {
					hinted = hinted || a.Key == "hint" && strings.Contains(a.Value.String(), "ulimit -n")
					return true
				})
			}
			if fds := name == "EMFILE" || name == "ENFILE"; fds != hinted {
				t.Errorf("%s: the accept warnings give the descriptors' hint: %v, want %v", name, hinted, fds)
			}
			must(t, s.Close())
			if serr := waitFor(t, served, "Serve"); serr != ErrServerClosed {
				t.Errorf("Serve returned %v after Close, want ErrServerClosed", serr)
			}
		})
	}
}

// TestCloseInterruptsAcceptBackoff: Close does not wait out the accept loop's backoff.
func TestCloseInterruptsAcceptBackoff(t *testing.T) {
	s := NewServer(ServerOptions{ConnOptions: ConnOptions{Logger: quiet}})
	raw, err := Listen("127.0.0.1:0")
	must(t, err)
	ln := &acceptErrors{Listener: raw, always: acceptError(syscall.EMFILE), refused: make(chan struct{}, 100)}
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	// After 8 failures the backoff has reached its longest, a second.
	for range 8 {
		waitFor(t, ln.refused, "a failed accept")
	}
	begin := time.Now()
	must(t, s.Close())
	if serr := waitFor(t, served, "Serve"); serr != ErrServerClosed {
		t.Errorf("Serve returned %v after Close, want ErrServerClosed", serr)
	}
	if took := time.Since(begin); took > 100*time.Millisecond {
		t.Errorf("Close took %v while Serve backed off, want it at once", took)
	}
}

// acceptPauses returns the pauses the accept warnings logged so far, in order, and
// fails the test for one not logged at Warn level.
func acceptPauses(t *testing.T, logs *logSink) []time.Duration {
	t.Helper()
	var out []time.Duration
	for _, r := range logs.matching("accept failed") {
		if r.Level != slog.LevelWarn {
			t.Errorf("accept failure logged at %v, want Warn", r.Level)
		}
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "pause" {
				out = append(out, a.Value.Duration())
			}
			return true
		})
	}
	return out
}

// TestAcceptBackoff: the pause after a temporary accept error doubles with each
// failure in a row up to 1 s (TestServeSurvivesTemporaryAcceptErrors sees it start at
// 5 ms); Shutdown ends the pause at once, and any other accept error ends Serve with
// that error.
func TestAcceptBackoff(t *testing.T) {
	t.Run("up to a second, ended by Shutdown", func(t *testing.T) {
		logs := newLogSink()
		s := NewServer(ServerOptions{ConnOptions: ConnOptions{Logger: logs.logger()}})
		raw, err := Listen("127.0.0.1:0")
		must(t, err)
		ln := &acceptErrors{Listener: raw, always: acceptError(syscall.ENOBUFS), refused: make(chan struct{}, 100)}
		served := make(chan error, 1)
		go func() { served <- s.Serve(ln) }()
		logs.waitCount(t, "accept failed", 9, 10*time.Second)
		var want []time.Duration
		for d := 5 * time.Millisecond; d < time.Second; d *= 2 {
			want = append(want, d)
		}
		want = append(want, time.Second)
		if got := acceptPauses(t, logs); !slices.Equal(got[:min(len(got), len(want))], want) {
			t.Errorf("accept pauses %v, want %v", got, want)
		}
		begin := time.Now()
		must(t, s.Shutdown(context.Background()))
		if serr := waitFor(t, served, "Serve"); serr != ErrServerClosed {
			t.Errorf("Serve returned %v after Shutdown, want ErrServerClosed", serr)
		}
		if took := time.Since(begin); took > 500*time.Millisecond {
			t.Errorf("Shutdown and Serve took %v during a pause of 1 s, want the pause ended at once", took)
		}
	})
	t.Run("other errors end Serve", func(t *testing.T) {
		s := NewServer(ServerOptions{ConnOptions: ConnOptions{Logger: quiet}})
		raw, err := Listen("127.0.0.1:0")
		must(t, err)
		defer raw.Close()
		fatal := acceptError(syscall.EBADF)
		ln := &acceptErrors{Listener: raw, always: fatal, refused: make(chan struct{}, 100)}
		served := make(chan error, 1)
		go func() { served <- s.Serve(ln) }()
		if serr := waitFor(t, served, "Serve"); !errors.Is(serr, fatal) || !errors.Is(serr, syscall.EBADF) {
			t.Errorf("Serve returned %v on EBADF, want that error", serr)
		}
		must(t, s.Close())
	})
	t.Run("open connections outlive Serve until Close", func(t *testing.T) {
		s := NewServer(ServerOptions{ConnOptions: ConnOptions{Logger: quiet}})
		must(t, s.RegisterProcessor(codeEcho, echo, PoolOptions{}))
		raw, err := Listen("127.0.0.1:0")
		must(t, err)
		defer raw.Close()
		fatal := acceptError(syscall.EBADF)
		served := make(chan error, 1)
		go func() { served <- s.Serve(&fatalAfterOne{Listener: raw, err: fatal}) }()
		cl := newTestClient(t, ClientOptions{})
		call := func() error {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_, err := cl.InvokeSync(ctx, raw.Addr().String(), NewRequest(codeEcho, nil, []byte("hi")))
			return err
		}
		must(t, call()) // the connection Serve accepted before its fatal error
		if serr := waitFor(t, served, "Serve"); !errors.Is(serr, fatal) {
			t.Fatalf("Serve returned %v, want the accept error", serr)
		}
		if err := call(); err != nil {
			t.Fatalf("a call on a connection open when Serve ended: %v, want it served until Close", err)
		}
		must(t, s.Close())
		if err := call(); err == nil {
			t.Fatal("a call after Close was answered")
		}
	})
}

// fatalAfterOne accepts one connection, then fails every Accept with err.
type fatalAfterOne struct {
	net.Listener
	n   atomic.Int32
	err error
}

func (l *fatalAfterOne) Accept() (net.Conn, error) {
	if l.n.Add(1) > 1 {
		return nil, l.err
	}
	return l.Listener.Accept()
}

// TestPoolSelector: a processor's selector spreads its requests over pools of their
// own; a pool whose workers are all blocked and whose queue is full turns away only its
// own requests.
func TestPoolSelector(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{}, 10)
	blocking := ProcessorFunc(func(ctx context.Context, _ *Conn, req *Command) (*Command, error) {
		started <- struct{}{}
		<-release
		return NewResponse(req, CodeSuccess, "slow"), nil
	})
	other := NewServer(ServerOptions{})
	defer other.Close()
	foreign, err := other.NewPool(echo, PoolOptions{})
	must(t, err)
	_, addr := startServer(t, ServerOptions{}, func(s *Server) {
		slow, err := s.NewPool(blocking, PoolOptions{Workers: 1, QueueSize: 1})
		must(t, err)
		if _, err := s.NewPool(nil, PoolOptions{}); !errors.Is(err, ErrRegistered) {
			t.Errorf("NewPool(nil): %v, want ErrRegistered", err)
		}
		must(t, s.RegisterProcessor(codeEcho, echo, PoolOptions{Workers: 1, Select: func(req *Command) *Pool {
			switch req.ExtFields.Get("pool") {
			case "slow":
				return slow
			case "foreign":
				return foreign // another server's: the processor's own workers run it
			case "panic":
				panic("the selector fell over")
			}
			return nil
		}}))
	})
	t.Cleanup(func() { closeOnce(release) })
	cl := newTestClient(t, ClientOptions{})
	call := func(pool string) *Command {
		t.Helper()
		resp, err := cl.InvokeSync(context.Background(), addr, NewRequest(codeEcho, Fields{{Key: "pool", Value: pool}}, []byte(pool)))
		must(t, err)
		return resp
	}
	slowDone := make(chan *Command, 2)
	slowCall := func() {
		cl.InvokeAsync(context.Background(), addr, NewRequest(codeEcho, Fields{{Key: "pool", Value: "slow"}}, nil), func(r *Command, err error) {
			must(t, err)
			slowDone <- r
		})
	}
	slowCall()
	waitFor(t, started, "the slow pool's worker")
	slowCall() // waits in the slow pool's queue
	for _, pool := range []string{"", "foreign", "panic"} {
		if r := call(pool); r.Code != CodeSuccess || string(r.Body) != pool {
			t.Errorf("request for pool %q answered %v while the slow pool was blocked", pool, r)
		}
	}
	// The queued slow request is behind the echoes on the connection, so it is queued
	// by now: a third finds the slow pool full.
	if r := call("slow"); r.Code != CodeSystemBusy {
		t.Errorf("request for the full slow pool answered %v, want SYSTEM_BUSY", r)
	}
	close(release)
	for range 2 {
		if r := waitFor(t, slowDone, "a slow request"); r.Code != CodeSuccess || r.Remark != "slow" {
			t.Errorf("slow request answered %v", r)
		}
	}
}

// TestShutdownDrainsSelectedPools: Shutdown waits for requests running in pools a
// selector chose, and turns new ones away.
func TestShutdownDrainsSelectedPools(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	var s *Server
	s, addr := startServer(t, ServerOptions{}, func(s *Server) {
		own, err := s.NewPool(ProcessorFunc(func(ctx context.Context, _ *Conn, req *Command) (*Command, error) {
			started <- struct{}{}
			<-release
			return NewResponse(req, CodeSuccess, "drained"), nil
		}), PoolOptions{Workers: 1})
		must(t, err)
		must(t, s.RegisterProcessor(codeEcho, echo, PoolOptions{Select: func(req *Command) *Pool {
			if req.ExtFields.Get("pool") == "own" {
				return own
			}
			return nil
		}}))
	})
	t.Cleanup(func() { closeOnce(release) })
	cl := newTestClient(t, ClientOptions{})
	done := make(chan *Command, 1)
	cl.InvokeAsync(context.Background(), addr, NewRequest(codeEcho, Fields{{Key: "pool", Value: "own"}}, nil), func(r *Command, err error) {
		must(t, err)
		done <- r
	})
	waitFor(t, started, "the request in its own pool")
	shut := make(chan error, 1)
	go func() { shut <- s.Shutdown(context.Background()) }()
	// A new request is answered GO_AWAY, or, once the client heard the going-away
	// notice, finds no listener for the new connection it dials.
	for {
		late, err := cl.InvokeSync(context.Background(), addr, NewRequest(codeEcho, nil, nil))
		if errors.Is(err, ErrConnectFailed) || err == nil && late.Code == CodeGoAway {
			break
		}
		must(t, err)
	}
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned %v with a request running in a selected pool", err)
	default:
	}
	close(release)
	if r := waitFor(t, done, "the drained request"); r.Remark != "drained" {
		t.Errorf("in-flight request answered %v", r)
	}
	must(t, waitFor(t, shut, "Shutdown"))
}

// TestCutByGoAwayOnlyWhenThePeerClosed: a connection whose peer answered GO_AWAY
// and then closed it fails its calls as the peer's shutdown; one that fails for
// another reason afterwards (here a malformed frame) says that reason, not a shutdown.
func TestCutByGoAwayOnlyWhenThePeerClosed(t *testing.T) {
	for _, tc := range []struct {
		name     string
		then     []byte // what the peer writes after its GO_AWAY answer, then it closes
		shutdown bool
	}{
		{"the peer closes", nil, true},
		{"a malformed frame", []byte{0, 0, 0, 1, 0}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			must(t, err)
			defer ln.Close()
			served := make(chan struct{})
			go func() {
				defer close(served)
				nc, err := ln.Accept()
				if err != nil {
					return
				}
				defer nc.Close()
				first := readRawFrame(t, nc)
				readRawFrame(t, nc) // the second call, left unanswered
				b, _ := AppendFrame(nil, NewResponse(first, CodeGoAway, "going away"), SerializeRocketMQ)
				nc.Write(append(b, tc.then...))
				if tc.then != nil {
					io.Copy(io.Discard, nc) // until the client closes on the bad frame
				}
			}()
			defer func() { <-served }()
			cl := newTestClient(t, ClientOptions{})
			results := make(chan error, 2)
			for range 2 {
				cl.InvokeAsync(context.Background(), ln.Addr().String(), NewRequest(codeEcho, nil, nil), func(_ *Command, err error) { results <- err })
			}
			for range 2 {
				err := waitFor(t, results, "a call's end")
				if err == nil {
					continue // the answered one
				}
				says := strings.Contains(err.Error(), "the peer shut down")
				if !errors.Is(err, ErrConnectionLost) || says != tc.shutdown {
					t.Errorf("the unanswered call: %v; want the connection lost, named the peer's shutdown: %v", err, tc.shutdown)
				}
			}
		})
	}
}
