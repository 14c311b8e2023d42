package transport

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"runtime"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// cancelServer serves codeBlock with a processor that reports when it starts and when
// its context (seen through a context derived from it, as handlers derive them) ends.
func cancelServer(t *testing.T, opts ServerOptions) (*Server, string, chan *Command, chan time.Time) {
	started := make(chan *Command, 10)
	ended := make(chan time.Time, 10)
	s, addr := startServer(t, opts, func(s *Server) {
		must(t, s.RegisterProcessor(codeEcho, echo, PoolOptions{}))
		must(t, s.RegisterProcessor(codeBlock, ProcessorFunc(func(ctx context.Context, _ *Conn, req *Command) (*Command, error) {
			derived, cancel := context.WithTimeout(ctx, time.Hour)
			defer cancel()
			started <- req
			<-derived.Done()
			ended <- time.Now()
			return nil, ctx.Err()
		}), PoolOptions{}))
	})
	return s, addr, started, ended
}

const cancelBound = 200 * time.Millisecond

// TestCancelReachesProcessor: a caller that stops waiting ends the processor's context
// within a few milliseconds on loopback, for sync and async calls alike.
func TestCancelReachesProcessor(t *testing.T) {
	_, addr, started, ended := cancelServer(t, ServerOptions{})
	cl := newTestClient(t, ClientOptions{})
	invoke := map[string]func(ctx context.Context) <-chan error{
		"sync": func(ctx context.Context) <-chan error {
			done := make(chan error, 1)
			go func() {
				_, err := cl.InvokeSync(ctx, addr, NewRequest(codeBlock, nil, nil))
				done <- err
			}()
			return done
		},
		"async": func(ctx context.Context) <-chan error {
			done := make(chan error, 1)
			cl.InvokeAsync(ctx, addr, NewRequest(codeBlock, nil, nil), func(_ *Command, err error) { done <- err })
			return done
		},
	}
	for _, mode := range []string{"sync", "async"} {
		t.Run(mode, func(t *testing.T) {
			var took []time.Duration
			for range 5 {
				ctx, cancel := context.WithCancel(context.Background())
				done := invoke[mode](ctx)
				waitFor(t, started, "the processor to start")
				at := time.Now()
				cancel()
				if err := waitFor(t, done, "the call to end"); !errors.Is(err, context.Canceled) {
					t.Fatalf("call: %v, want context.Canceled", err)
				}
				took = append(took, waitFor(t, ended, "the processor's context to end").Sub(at))
			}
			sort.Slice(took, func(i, j int) bool { return took[i] < took[j] })
			t.Logf("caller's cancel to the processor's context: median %v, max %v", took[len(took)/2], took[len(took)-1])
			// The median says how soon; the slowest only that the notice arrived, as
			// a loaded machine may hold any one of them up.
			if med, slowest := took[len(took)/2], took[len(took)-1]; med > cancelBound || slowest > 10*cancelBound {
				t.Fatalf("the processor saw the cancel after a median %v, at most %v; want within %v, and every one within %v", med, slowest, cancelBound, 10*cancelBound)
			}
		})
	}
}

// TestCloseEndsProcessorContexts: every processor context of requests that arrived on
// a connection ends when the connection closes, whoever closes it.
func TestCloseEndsProcessorContexts(t *testing.T) {
	tests := []struct {
		name  string
		close func(t *testing.T, s *Server, cl *Client, raw net.Conn)
	}{
		{"client Close", func(t *testing.T, _ *Server, cl *Client, _ net.Conn) { cl.Close() }},
		{"killed connection", func(t *testing.T, _ *Server, _ *Client, raw net.Conn) { raw.Close() }},
		{"server Close", func(t *testing.T, s *Server, _ *Client, _ net.Conn) {
			closed := make(chan error, 1)
			go func() { closed <- s.Close() }()
			waitFor(t, closed, "Server.Close, which waits for the processors")
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, addr, started, ended := cancelServer(t, ServerOptions{})
			cl := newTestClient(t, ClientOptions{})
			done := make(chan error, 1)
			go func() {
				_, err := cl.InvokeSync(context.Background(), addr, NewRequest(codeBlock, nil, nil))
				done <- err
			}()
			waitFor(t, started, "the client's request")
			raw := rawDial(t, addr)
			frame, err := AppendFrame(nil, &Command{Code: codeBlock, Opaque: 1}, SerializeRocketMQ)
			must(t, err)
			_, err = raw.Write(frame)
			must(t, err)
			waitFor(t, started, "the raw request")
			tc.close(t, s, cl, raw)
			waitFor(t, ended, "a processor's context to end")
			if tc.name != "server Close" {
				return // the other connection's processor runs on
			}
			waitFor(t, ended, "the other processor's context to end")
			waitFor(t, done, "the call to fail")
		})
	}
}

// TestControlFrames: the ping is answered SUCCESS by the transport; a cancel notice
// is never answered when oneway and is ignored for an opaque nothing handles; a
// malformed notice sent as a request gets an error.
func TestControlFrames(t *testing.T) {
	_, addr, _, _ := cancelServer(t, ServerOptions{})
	tests := []struct {
		name     string
		send     *Command
		wantCode int32 // of the first frame back; -1: none, the ping sent after answers first
	}{
		{"ping", &Command{Code: codePing, Opaque: 5}, CodeSuccess},
		{"oneway ping", &Command{Code: codePing, Opaque: 5, Flag: FlagOneway}, -1},
		{"notice for an unknown opaque", &Command{Code: codeCancel, Opaque: 5, Flag: FlagOneway, ExtFields: Fields{{fieldCancelOpaque, "12345"}}}, -1},
		{"notice as a request", &Command{Code: codeCancel, Opaque: 5, ExtFields: Fields{{fieldCancelOpaque, "12345"}}}, CodeSuccess},
		{"notice without an opaque", &Command{Code: codeCancel, Opaque: 5}, CodeSystemError},
		{"oneway notice without an opaque", &Command{Code: codeCancel, Opaque: 5, Flag: FlagOneway}, -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			nc := rawDial(t, addr)
			frames, err := AppendFrame(nil, tc.send, SerializeRocketMQ)
			must(t, err)
			frames, err = AppendFrame(frames, &Command{Code: codePing, Opaque: 6}, SerializeJSON)
			must(t, err)
			_, err = nc.Write(frames)
			must(t, err)
			resp := readRawFrame(t, nc)
			if tc.wantCode == -1 {
				if resp.Opaque != 6 || resp.Code != CodeSuccess {
					t.Fatalf("first frame back %v, want only the answer to the ping after it", resp)
				}
				return
			}
			if resp.Opaque != 5 || resp.Code != tc.wantCode || !resp.IsResponse() {
				t.Fatalf("answer %v, want code %d to opaque 5", resp, tc.wantCode)
			}
		})
	}
}

func TestReservedCodesCannotBeRegistered(t *testing.T) {
	s := NewServer(ServerOptions{})
	defer s.Close()
	for _, tc := range []struct {
		code int32
		role string
	}{{codePing, "ping"}, {codeCancel, "cancel notice"}, {codeGoingAway, "going-away notice"}, {codeStreamUp, "stream frames"}, {codeStreamDown, "stream frames"}} {
		err := s.RegisterProcessor(tc.code, echo, PoolOptions{})
		if !errors.Is(err, ErrRegistered) || !strings.Contains(err.Error(), "reserved for the transport's "+tc.role) {
			t.Errorf("registering code %d: %v, want it refused as reserved for the %s", tc.code, err, tc.role)
		}
	}
}

// TestRequestCtxDerivesWithoutGoroutines: contexts derived from a processor's context,
// and AfterFunc on it, start no goroutine, and still end with it.
func TestRequestCtxDerivesWithoutGoroutines(t *testing.T) {
	r := new(requestCtx)
	before := runtime.NumGoroutine()
	var children []context.Context
	for range 100 {
		ctx, cancel := context.WithTimeout(r, time.Hour)
		defer cancel()
		children = append(children, ctx)
	}
	ran := make(chan struct{}, 2)
	context.AfterFunc(r, func() { ran <- struct{}{} })
	stopped := context.AfterFunc(r, func() { ran <- struct{}{} })
	if !stopped() {
		t.Fatal("stop before the end reported the function as already run")
	}
	if n := runtime.NumGoroutine() - before; n > 0 {
		t.Fatalf("%d goroutines started by 100 derived contexts and 2 AfterFuncs, want 0", n)
	}
	if r.Err() != nil {
		t.Fatal("ended before anything ended it")
	}
	r.end(ctxEnded)
	for i, ctx := range children {
		select {
		case <-ctx.Done():
		default:
			t.Fatalf("child %d not cancelled with its parent", i)
		}
		if !errors.Is(ctx.Err(), context.Canceled) {
			t.Fatalf("child %d: %v", i, ctx.Err())
		}
	}
	waitFor(t, ran, "the AfterFunc")
	select {
	case <-ran:
		t.Fatal("a stopped AfterFunc ran")
	default:
	}
	late, cancel := context.WithCancel(r)
	defer cancel()
	if late.Err() == nil {
		t.Fatal("a context derived after the end is not cancelled")
	}
}

// TestPoolEndsRequests: a cancel notice ends the requests of its connection with its
// opaque, queued or running, and no other; a close ends all of the connection's but
// its oneway requests, which end when the owner closes.
func TestPoolEndsRequests(t *testing.T) {
	wp := testPool(PoolOptions{Workers: 2})
	a, b := new(Conn), new(Conn)
	add := func(c *Conn, opaque int32, oneway bool) {
		req := NewRequest(codeEcho, nil, nil)
		req.Opaque = opaque
		if oneway {
			req.Flag |= FlagOneway
		}
		if !wp.push(c.queueIn(wp), req) {
			t.Fatal("queue full")
		}
	}
	w0, w1 := &worker{id: 0}, &worker{id: 1}
	add(a, 1, false)
	running, _ := wp.pop(w0) // a:1 runs
	add(a, 1, false)         // a second request with the same opaque, queued
	add(a, 2, false)
	add(b, 1, false)
	add(a, 3, true)
	a.cancelInbound(1, false)
	if running.ctx.Err() == nil {
		t.Fatal("the running request with the cancelled opaque still runs")
	}
	got := map[string]bool{} // conn:opaque -> ended
	for range 4 {
		tk, _ := wp.pop(w1)
		name := "a"
		if tk.conn == b {
			name = "b"
		}
		got[fmt.Sprintf("%s:%d", name, tk.req.Opaque)] = tk.ctx.Err() != nil
		if tk.req.Opaque != 3 {
			continue
		}
		oneway := tk
		a.endInbound()
		if oneway.ctx.Err() != nil {
			t.Fatal("the connection's close ended a oneway request")
		}
		wp.end(nil, ctxEnded, func(_ int32, oneway bool) bool { return oneway })
		if oneway.ctx.Err() == nil {
			t.Fatal("the owner's close did not end a oneway request")
		}
	}
	want := map[string]bool{"a:1": true, "a:2": false, "b:1": false, "a:3": false}
	if !maps.Equal(got, want) {
		t.Fatalf("ended after a cancel of opaque 1 on a: %v, want %v", got, want)
	}
	wp.d.onewayEnded.Store(true) // a oneway request taken after the owner closed starts ended
	add(a, 4, true)
	if tk, _ := wp.pop(w0); tk.ctx.Err() == nil {
		t.Fatal("a oneway request taken after the owner closed is live")
	}
}

// TestRequestCtxErrAfterDone: as the context package requires, a request context's Err
// stays nil until its Done channel is closed, however end and Err interleave.
func TestRequestCtxErrAfterDone(t *testing.T) {
	for i := range 20000 {
		r := &requestCtx{}
		done := r.Done()
		ended := make(chan struct{})
		go func() {
			r.end(ctxEnded)
			close(ended)
		}()
		for r.Err() == nil {
			runtime.Gosched()
		}
		select {
		case <-done:
		default:
			t.Fatalf("try %d: Err returned %v while Done was still open", i, r.Err())
		}
		<-ended
	}
}

// TestDeriveWhileEnding: a context derived while the request's context is ending (its
// end under way, Done not yet closed) ends with it. The context package's AfterFunc
// reads Err, which is nil until Done closes: run then, it cancelled the child with no
// error, and the process died of the panic.
func TestDeriveWhileEnding(t *testing.T) {
	for range 20000 {
		r := new(requestCtx)
		r.Done()
		ended := make(chan struct{})
		go func() {
			r.end(ctxEnded)
			close(ended)
		}()
		child, cancel := context.WithCancel(r)
		<-ended
		select {
		case <-child.Done():
		case <-time.After(5 * time.Second):
			t.Fatal("a child derived while its parent ended was not cancelled")
		}
		cancel()
	}
}

// TestNoticesBeyondRequestsIgnored: a peer's cancel notices are looked at up to the
// number of requests it sent (at most MaxConnInflight ahead): a notice spent on nothing
// leaves none for a request.
func TestNoticesBeyondRequestsIgnored(t *testing.T) {
	c := &Conn{cfg: &connConfig{maxConnInflight: 4}}
	wp := testPool(PoolOptions{Workers: 1})
	request := func(opaque int32) { // what dispatch does with a request
		req := NewRequest(codeEcho, nil, nil)
		req.Opaque = opaque
		c.allowNotice()
		wp.push(c.queueIn(wp), req)
	}
	notice := func(opaque int32) {
		n := NewRequest(codeCancel, Fields{{Key: fieldCancelOpaque, Value: fmt.Sprint(opaque)}}, nil)
		n.Flag |= FlagOneway
		c.control(n)
	}
	cancelled := func() bool {
		tk, _ := wp.pop(&worker{})
		return tk.ctx.Err() != nil
	}
	request(7)
	notice(7)
	if !cancelled() {
		t.Fatal("the notice of a request the peer sent did not cancel it")
	}
	request(8)
	notice(99) // a notice for nothing spends the one request's due
	notice(8)
	if cancelled() {
		t.Fatal("a notice beyond the peer's requests was looked at")
	}
	for i := range 10 {
		request(int32(100 + i))
	}
	if c.flow.notices != 4 {
		t.Fatalf("%d notices due after 10 requests, want the cap of 4", c.flow.notices)
	}
}

// TestCancelledBeforeSendIsNotSent: a request whose context ended before it was sent
// fails with the context's error and never reaches the peer, whatever the kind of call.
func TestCancelledBeforeSendIsNotSent(t *testing.T) {
	const codeCount int32 = 13
	var ran atomic.Int64
	_, addr := startServer(t, ServerOptions{}, func(s *Server) {
		must(t, s.RegisterProcessor(codeCount, ProcessorFunc(func(_ context.Context, _ *Conn, req *Command) (*Command, error) {
			if string(req.Body) == "cancelled" {
				ran.Add(1)
			}
			return NewResponse(req, CodeSuccess, ""), nil
		}), PoolOptions{Workers: 1}))
	})
	cl := newTestClient(t, ClientOptions{})
	conn, err := cl.Conn(context.Background(), addr)
	must(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req := func() *Command { return NewRequest(codeCount, nil, []byte("cancelled")) }
	kinds := map[string]func() error{
		"sync": func() error { _, err := conn.InvokeSync(ctx, req()); return err },
		"async": func() error {
			done := make(chan error, 1)
			conn.InvokeAsync(ctx, req(), func(_ *Command, err error) { done <- err })
			return <-done
		},
		"oneway": func() error { return conn.InvokeOneway(ctx, req()) },
		"oneway async": func() error {
			done := make(chan error, 1)
			conn.InvokeOnewayAsync(ctx, req(), func(err error) { done <- err })
			return <-done
		},
	}
	for name, invoke := range kinds {
		for range 200 {
			if err := invoke(); !errors.Is(err, context.Canceled) {
				t.Errorf("%s: %v, want context.Canceled", name, err)
				break
			}
		}
		// A request sent after them on the same connection has been run: so have they.
		if _, err := conn.InvokeSync(context.Background(), NewRequest(codeCount, nil, nil)); err != nil {
			t.Fatal(err)
		}
		if n := ran.Swap(0); n != 0 {
			t.Errorf("%s: 200 requests whose context had ended ran %d time(s)", name, n)
		}
	}
}

// TestExpiredNoticeEndsWithDeadlineExceeded: the cancel notice of a call whose
// deadline passed, its context's or the client's timeout, says so, and the
// processor's context ends with context.DeadlineExceeded; a call its caller
// cancelled, or whose context ended at a deadline with a cause of its own (rpc's
// attempts), ends it with context.Canceled.
func TestExpiredNoticeEndsWithDeadlineExceeded(t *testing.T) {
	started := make(chan struct{}, 1)
	ended := make(chan error, 1)
	_, addr := startServer(t, ServerOptions{}, func(s *Server) {
		must(t, s.RegisterProcessor(codeBlock, ProcessorFunc(func(ctx context.Context, _ *Conn, req *Command) (*Command, error) {
			started <- struct{}{}
			<-ctx.Done()
			ended <- ctx.Err()
			return nil, ctx.Err()
		}), PoolOptions{}))
	})
	// Deadlines leave a loaded machine room to start the processor before they pass;
	// the connection is open before the first.
	cl := newTestClient(t, ClientOptions{ConnOptions: ConnOptions{Timeout: 300 * time.Millisecond}})
	_, err := cl.Conn(context.Background(), addr)
	must(t, err)
	sync := func(ctx context.Context) error {
		_, err := cl.InvokeSync(ctx, addr, NewRequest(codeBlock, nil, nil))
		return err
	}
	async := func(ctx context.Context) error {
		done := make(chan error, 1)
		cl.InvokeAsync(ctx, addr, NewRequest(codeBlock, nil, nil), func(_ *Command, err error) { done <- err })
		return waitFor(t, done, "the async call to end")
	}
	deadline := func(ctx context.Context) (context.Context, context.CancelFunc) {
		return context.WithTimeout(ctx, 300*time.Millisecond)
	}
	cancelled := func(ctx context.Context) (context.Context, context.CancelFunc) {
		ctx, cancel := context.WithCancel(ctx)
		go func() { <-started; started <- struct{}{}; cancel() }()
		return ctx, cancel
	}
	caused := func(ctx context.Context) (context.Context, context.CancelFunc) {
		return context.WithTimeoutCause(ctx, 300*time.Millisecond, errors.New("an attempt's share"))
	}
	none := func(ctx context.Context) (context.Context, context.CancelFunc) { return ctx, func() {} }
	for _, tc := range []struct {
		name string
		call func(context.Context) error
		ctx  func(context.Context) (context.Context, context.CancelFunc)
		want error
	}{
		{"sync, ctx deadline", sync, deadline, context.DeadlineExceeded},
		{"async, ctx deadline", async, deadline, context.DeadlineExceeded},
		{"sync, client timeout", sync, none, context.DeadlineExceeded},
		{"async, client timeout", async, none, context.DeadlineExceeded},
		{"sync, deadline with a cause", sync, caused, context.Canceled},
		{"async, deadline with a cause", async, caused, context.Canceled},
		{"sync, cancelled", sync, cancelled, context.Canceled},
		{"async, cancelled", async, cancelled, context.Canceled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := tc.ctx(context.Background())
			defer cancel()
			if err := tc.call(ctx); err == nil {
				t.Fatal("call answered; want it to end before its processor")
			}
			waitFor(t, started, "the processor to start")
			if err := waitFor(t, ended, "the processor's context to end"); err != tc.want {
				t.Fatalf("processor's context ended with %v, want %v", err, tc.want)
			}
		})
	}
}
