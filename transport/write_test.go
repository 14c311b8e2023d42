package transport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ringrpc/ringrpc/internal/testnet"
)

// countingServer counts the requests with codeEcho that reach it, oneway or not, and
// answers those that want an answer.
func countingServer(t *testing.T, opts ServerOptions) (*Server, string, chan *Command) {
	got := make(chan *Command, 1000)
	s, addr := startServer(t, opts, func(s *Server) {
		must(t, s.RegisterProcessor(codeEcho, ProcessorFunc(func(_ context.Context, _ *Conn, req *Command) (*Command, error) {
			got <- req
			return NewResponse(req, CodeSuccess, ""), nil
		}), PoolOptions{}))
	})
	return s, addr, got
}

// Oneway requests queued when the client closes all reach the server, each once:
// Close writes what is queued before it closes a connection.
func TestCloseFlushesOneway(t *testing.T) {
	for _, n := range []int{1, 10, 20} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			_, addr, got := countingServer(t, ServerOptions{})
			cl := NewClient(ClientOptions{ConnOptions: ConnOptions{Logger: quiet}})
			for i := range n {
				must(t, cl.InvokeOneway(context.Background(), addr, NewRequest(codeEcho, nil, []byte(fmt.Sprint(i)))))
			}
			must(t, cl.Close())
			// Several workers run them, so they may arrive in any order: each once.
			seen := map[string]bool{}
			for i := range n {
				r := waitFor(t, got, fmt.Sprintf("oneway %d of %d", i+1, n))
				if seen[string(r.Body)] {
					t.Fatalf("oneway %q arrived twice", r.Body)
				}
				seen[string(r.Body)] = true
			}
		})
	}
}

// A peer that stops reading holds Close up only for the flush limit; Close then says
// that frames were left unwritten.
func TestCloseFlushIsBounded(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	accepted := make(chan net.Conn, 1)
	go func() {
		if nc, err := ln.Accept(); err == nil {
			accepted <- nc // held open, never read
		}
	}()
	defer ln.Close()
	cl := NewClient(ClientOptions{ConnOptions: ConnOptions{Logger: quiet}})
	cl.cfg.closeFlush = 50 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	big := NewRequest(codeEcho, nil, make([]byte, 1<<20))
	// Fill the socket's buffers and then the queue, until a sender finds no room.
	for i := 0; ; i++ {
		if err := cl.InvokeOneway(ctx, ln.Addr().String(), big); err != nil {
			if !errors.Is(err, ErrTimeout) {
				t.Fatalf("oneway %d: %v, want a timeout waiting for room", i, err)
			}
			break
		}
	}
	defer (<-accepted).Close()
	start := time.Now()
	err = cl.Close()
	if err == nil || !strings.Contains(err.Error(), "unwritten") {
		t.Fatalf("Close with a peer that does not read: %v, want an error saying frames were left unwritten", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Close took %v with a flush limit of 50ms", d)
	}
}

// Requests a server sends to its clients are flushed by Shutdown too.
func TestShutdownFlushesOneway(t *testing.T) {
	srv, addr, _ := countingServer(t, ServerOptions{})
	got := make(chan *Command, 100)
	cl := newTestClient(t, ClientOptions{})
	must(t, cl.RegisterProcessor(codeEcho, ProcessorFunc(func(_ context.Context, _ *Conn, req *Command) (*Command, error) {
		got <- req
		return nil, nil
	}), PoolOptions{}))
	_, err := cl.InvokeSync(context.Background(), addr, NewRequest(codeEcho, nil, nil))
	must(t, err)
	conns := srv.Conns()
	if len(conns) != 1 {
		t.Fatalf("%d server connections, want 1", len(conns))
	}
	const n = 20
	for range n {
		must(t, conns[0].InvokeOneway(context.Background(), NewRequest(codeEcho, nil, nil)))
	}
	must(t, srv.Shutdown(context.Background()))
	for i := range n {
		waitFor(t, got, fmt.Sprintf("oneway %d of %d", i+1, n))
	}
}

// A response larger than the frame limit is answered SYSTEM_ERROR naming the size
// and the limit, so that its caller fails at once instead of at its deadline.
func TestTooLargeResponseIsAnErrorResponse(t *testing.T) {
	const limit = 1024
	for _, json := range []bool{false, true} {
		t.Run(fmt.Sprintf("json=%v", json), func(t *testing.T) {
			_, addr := startServer(t, ServerOptions{ConnOptions: ConnOptions{MaxFrameSize: limit}}, func(s *Server) {
				must(t, s.RegisterProcessor(codeEcho, ProcessorFunc(func(_ context.Context, _ *Conn, req *Command) (*Command, error) {
					resp := NewResponse(req, CodeSuccess, "")
					resp.Body = make([]byte, len(req.Body)*100)
					return resp, nil
				}), PoolOptions{}))
			})
			cl := newTestClient(t, ClientOptions{ConnOptions: ConnOptions{JSONHeaders: json}})
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			resp, err := cl.InvokeSync(ctx, addr, NewRequest(codeEcho, nil, make([]byte, 20)))
			must(t, err)
			want := fmt.Sprintf("exceeds the frame limit of %d bytes (transport.ConnOptions.MaxFrameSize)", limit)
			if resp.Code != CodeSystemError || !strings.HasPrefix(resp.Remark, "response of ") || !strings.Contains(resp.Remark, want) {
				t.Fatalf("got code %d remark %q, want SYSTEM_ERROR %q", resp.Code, resp.Remark, want)
			}
			// Nothing of the refused response was left behind: the connection serves on.
			resp, err = cl.InvokeSync(ctx, addr, NewRequest(codeEcho, nil, make([]byte, 2)))
			must(t, err)
			if resp.Code != CodeSuccess || len(resp.Body) != 200 {
				t.Fatalf("a small call after a refused response: %v", resp)
			}
		})
	}
}

// closedAddr returns an address where nothing listens.
func closedAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// A nil callback is valid on every path, a failed dial included, and leaks no permit.
func TestNilCallback(t *testing.T) {
	_, addr, _ := countingServer(t, ServerOptions{})
	dead := closedAddr(t)
	cl := newTestClient(t, ClientOptions{ConnOptions: ConnOptions{AsyncPermits: 1}})
	for range 3 {
		cl.InvokeAsync(context.Background(), dead, NewRequest(codeEcho, nil, nil), nil)
	}
	for i := range 3 {
		done := make(chan error, 1)
		cl.InvokeAsync(context.Background(), addr, NewRequest(codeEcho, nil, nil), func(_ *Command, err error) { done <- err })
		if err := waitFor(t, done, "async call"); err != nil {
			t.Fatalf("async call %d after nil callbacks: %v (a leaked permit gives too many requests)", i, err)
		}
		cl.InvokeAsync(context.Background(), addr, NewRequest(codeEcho, nil, nil), nil)
	}
}

// A request larger than the frame limit is refused, leaving nothing of it queued.
func TestTooLargeRequestLeavesNothingQueued(t *testing.T) {
	_, addr, got := countingServer(t, ServerOptions{})
	cl := newTestClient(t, ClientOptions{ConnOptions: ConnOptions{MaxFrameSize: 256}})
	ctx := context.Background()
	big := NewRequest(codeEcho, nil, make([]byte, 300))
	small := NewRequest(codeEcho, nil, []byte("small"))
	calls := []struct {
		name string
		call func(*Command) error
	}{
		{"sync", func(req *Command) error { _, err := cl.InvokeSync(ctx, addr, req); return err }},
		{"oneway", func(req *Command) error { return cl.InvokeOneway(ctx, addr, req) }},
		{"async", func(req *Command) error {
			done := make(chan error, 1)
			cl.InvokeAsync(ctx, addr, req, func(_ *Command, err error) { done <- err })
			return waitFor(t, done, "async call")
		}},
	}
	for _, tc := range calls {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.call(big); !errors.Is(err, ErrFrameTooLarge) || !strings.Contains(err.Error(), "MaxFrameSize") {
				t.Fatalf("too large: %v, want ErrFrameTooLarge naming the option", err)
			}
			must(t, tc.call(small))
			if r := waitFor(t, got, "the small request"); string(r.Body) != "small" {
				t.Fatalf("the server got %q after a refused request", r.Body)
			}
		})
	}
}

// InvokeOnewayAsync tells each done that its request was written; every request then
// reaches the server. A nil done is valid.
func TestInvokeOnewayAsyncWritten(t *testing.T) {
	_, addr, got := countingServer(t, ServerOptions{})
	cl := newTestClient(t, ClientOptions{})
	const n = 20
	written := make(chan error, n)
	for i := range n {
		done := func(err error) { written <- err }
		if i%2 == 1 {
			done = nil
		}
		cl.InvokeOnewayAsync(context.Background(), addr, NewRequest(codeEcho, nil, nil), done)
	}
	for range n / 2 {
		must(t, waitFor(t, written, "a oneway request to be written"))
	}
	for i := range n {
		if r := waitFor(t, got, fmt.Sprintf("oneway %d of %d", i+1, n)); !r.IsOneway() {
			t.Fatalf("request %d arrived without the oneway flag", i)
		}
	}
	// A failed dial is told to done, and a nil done is fine there too.
	dead := closedAddr(t)
	cl.InvokeOnewayAsync(context.Background(), dead, NewRequest(codeEcho, nil, nil), nil)
	cl.InvokeOnewayAsync(context.Background(), dead, NewRequest(codeEcho, nil, nil), func(err error) { written <- err })
	if err := waitFor(t, written, "the failed dial"); !errors.Is(err, ErrConnectFailed) {
		t.Fatalf("oneway to a closed port: %v, want ErrConnectFailed", err)
	}
}

// InvokeOnewayAsync's done waits for the write, not the queue: while the socket takes
// nothing, done is not called; when no permit frees, it is told so; when the
// connection closes, the request not written is failed, exactly once.
func TestInvokeOnewayAsyncNotWritten(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		if nc, err := ln.Accept(); err == nil {
			accepted <- nc // held open, never read
		}
	}()
	addr := ln.Addr().String()
	cl := NewClient(ClientOptions{ConnOptions: ConnOptions{Logger: quiet, OnewayPermits: 1, MaxFrameSize: 32 << 20}})
	cl.cfg.closeFlush = 50 * time.Millisecond
	var calls atomic.Int32
	first := make(chan error, 2)
	// Larger than loopback's socket buffers: its write blocks while nobody reads.
	cl.InvokeOnewayAsync(context.Background(), addr, NewRequest(codeEcho, nil, make([]byte, 16<<20)), func(err error) {
		calls.Add(1)
		first <- err
	})
	defer (<-accepted).Close()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	second := make(chan error, 1)
	cl.InvokeOnewayAsync(ctx, addr, NewRequest(codeEcho, nil, nil), func(err error) { second <- err })
	select {
	case err := <-second:
		if !errors.Is(err, ErrTooManyRequests) || !strings.Contains(err.Error(), "OnewayPermits") {
			t.Fatalf("second request: %v, want ErrTooManyRequests naming OnewayPermits", err)
		}
	default:
		t.Fatal("done was not called before InvokeOnewayAsync returned with no permit")
	}
	select {
	case err := <-first:
		t.Fatalf("done called with %v while the request was still being written", err)
	default:
	}
	if err := cl.Close(); err == nil {
		t.Fatal("Close cut a write short and reported nothing")
	}
	if err := waitFor(t, first, "the unwritten request to fail"); !errors.Is(err, ErrClosed) {
		t.Fatalf("request cut by Close: %v, want ErrClosed", err)
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("done called %d times", n)
	}
}

// Sync calls are bounded by permits: with all in use, the next call fails when its
// deadline passes, saying that permits ran out and which option to raise; a call that
// waits gets a permit as soon as one frees.
func TestSyncPermits(t *testing.T) {
	_, addr, started, release := blockingServer(t, ServerOptions{}, PoolOptions{})
	cl := newTestClient(t, ClientOptions{ConnOptions: ConnOptions{SyncPermits: 2}})
	results := make(chan error, 3)
	call := func(ctx context.Context, code int32) {
		_, err := cl.InvokeSync(ctx, addr, NewRequest(code, nil, nil))
		results <- err
	}
	for i := range 2 {
		go call(context.Background(), codeBlock)
		waitFor(t, started, fmt.Sprintf("blocked call %d", i+1))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := cl.InvokeSync(ctx, addr, NewRequest(codeEcho, nil, nil))
	if !errors.Is(err, ErrTooManyRequests) || !strings.Contains(err.Error(), "all 2 Sync permits are in use") || !strings.Contains(err.Error(), "Options.SyncPermits") {
		t.Fatalf("call with every permit in use: %v, want ErrTooManyRequests naming Options.SyncPermits", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("the call failed after %v, not at its 50ms deadline", d)
	}
	// A call given time waits for a permit and gets the one freed.
	waiting, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	go call(waiting, codeEcho)
	close(release)
	for range 3 {
		must(t, waitFor(t, results, "calls once permits free"))
	}
}

// Close does not wait for a dial to a host that never answers: it stops it.
func TestCloseStopsDials(t *testing.T) {
	hole := testnet.BlackHole(t)
	cl := NewClient(ClientOptions{ConnectTimeout: time.Minute, ConnOptions: ConnOptions{Logger: quiet}})
	errc := make(chan error, 1)
	go func() {
		_, err := cl.Conn(context.Background(), hole)
		errc <- err
	}()
	dialling := func() bool {
		s := (*cl.slots.Load())[hole]
		if s == nil {
			return false
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.dials[0] != nil
	}
	for deadline := time.Now().Add(5 * time.Second); !dialling(); {
		if time.Now().After(deadline) {
			t.Fatal("the dial never started")
		}
		runtime.Gosched()
	}
	closed := make(chan struct{})
	go func() { cl.Close(); close(closed) }()
	waitFor(t, closed, "Close during a dial")
	if err := waitFor(t, errc, "the dialling caller"); !errors.Is(err, ErrConnectFailed) && !errors.Is(err, ErrClosed) {
		t.Fatalf("caller of a stopped dial: %v", err)
	}
}

// A frame written by its sender while the writer is idle reaches the peer whole and in
// order, also when the socket takes only part of it at once: the rest goes through the
// writer. Sync calls alone on their connection, in both directions, with bodies from
// a few bytes to more than a socket buffer holds.
func TestLightSenderWritesWholeFrames(t *testing.T) {
	_, addr := startServer(t, ServerOptions{}, func(s *Server) {
		must(t, s.RegisterProcessor(codeEcho, echo, PoolOptions{}))
	})
	cl := NewClient(ClientOptions{ConnOptions: ConnOptions{Logger: quiet, MaxFrameSize: 64 << 20}})
	defer cl.Close()
	for _, size := range []int{0, 10, 64 << 10, 8 << 20} {
		body := make([]byte, size)
		for i := range body {
			body[i] = byte(i * 7)
		}
		resp, err := cl.InvokeSync(context.Background(), addr, NewRequest(codeEcho, nil, body))
		must(t, err)
		if !bytes.Equal(resp.Body, body) {
			t.Fatalf("%d bytes sent, %d came back, or not the same", size, len(resp.Body))
		}
	}
}

// Flag bits a peer set that mean nothing here are not sent back: a processor that
// answers with the request itself answers with the response bit alone (PROTOCOL §5:
// other flag bits must be 0 when sent).
func TestResponseCarriesTheResponseFlagAlone(t *testing.T) {
	_, addr := startServer(t, ServerOptions{}, func(s *Server) {
		must(t, s.RegisterProcessor(codeEcho, echo, PoolOptions{}))
	})
	for _, flag := range []int32{0x100, flagStream | 0x100, 0x7ffffff8} {
		nc := rawDial(t, addr)
		req := NewRequest(codeEcho, nil, []byte("x"))
		req.Opaque, req.Flag = 1, flag
		frame, err := AppendFrame(nil, req, SerializeRocketMQ)
		must(t, err)
		nc.Write(frame)
		if got := readRawFrame(t, nc); got.Flag != FlagResponse {
			t.Errorf("a request with flag %#x is answered with flag %#x, want %#x", flag, got.Flag, FlagResponse)
		}
	}
}

// A peer that sent a going-away notice is sent no new request on that connection
// (PROTOCOL §7.1): a server's call to its client fails at once, as not sent, and
// nothing reaches the peer.
func TestNoRequestAfterGoingAwayNotice(t *testing.T) {
	s, addr := startServer(t, ServerOptions{}, nil)
	nc := rawDial(t, addr)
	notice := NewRequest(codeGoingAway, nil, nil)
	notice.Opaque, notice.Flag = 1, FlagOneway
	ping := NewRequest(codePing, nil, nil)
	ping.Opaque = 2
	for _, c := range []*Command{notice, ping} {
		frame, err := AppendFrame(nil, c, SerializeRocketMQ)
		must(t, err)
		nc.Write(frame)
	}
	readRawFrame(t, nc) // the ping's answer: the notice was read before it
	conn := s.Conns()[0]
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if _, err := conn.InvokeSync(ctx, NewRequest(40, nil, nil)); !errors.Is(err, ErrGoingAway) || !errors.Is(err, ErrConnectFailed) || !strings.Contains(err.Error(), "going away") {
		t.Errorf("InvokeSync after the notice: %v, want it refused as not sent", err)
	}
	done := make(chan error, 1)
	conn.InvokeAsync(ctx, NewRequest(40, nil, nil), func(_ *Command, err error) { done <- err })
	if err := <-done; !errors.Is(err, ErrConnectFailed) {
		t.Errorf("InvokeAsync after the notice: %v", err)
	}
	if err := conn.InvokeOneway(ctx, NewRequest(40, nil, nil)); !errors.Is(err, ErrConnectFailed) {
		t.Errorf("InvokeOneway after the notice: %v", err)
	}
	if _, err := conn.OpenStream(ctx, NewRequest(40, nil, nil)); !errors.Is(err, ErrConnectFailed) {
		t.Errorf("OpenStream after the notice: %v", err)
	}
	// Nothing was written: the next frame the peer reads is the answer to a ping.
	ping.Opaque = 3
	frame, err := AppendFrame(nil, ping, SerializeRocketMQ)
	must(t, err)
	nc.Write(frame)
	if got := readRawFrame(t, nc); got.Opaque != 3 || !got.IsResponse() {
		t.Errorf("the peer read %v after the notice, want only the ping's answer", got)
	}
}
