package transport

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestInvokeModes(t *testing.T) {
	for _, json := range []bool{false, true} {
		t.Run(fmt.Sprintf("json=%v", json), func(t *testing.T) {
			oneways := make(chan *Command, 1)
			_, addr := startServer(t, ServerOptions{}, func(s *Server) {
				must(t, s.RegisterProcessor(codeEcho, echo, PoolOptions{}))
				must(t, s.RegisterProcessor(codeBlock, ProcessorFunc(func(_ context.Context, _ *Conn, req *Command) (*Command, error) {
					oneways <- req
					return NewResponse(req, CodeSuccess, "never sent"), nil
				}), PoolOptions{}))
			})
			cl := newTestClient(t, ClientOptions{ConnOptions: ConnOptions{JSONHeaders: json}})
			ctx := context.Background()
			req := NewRequest(codeEcho, FieldsOf(map[string]string{"k": "v"}), []byte("hello"))

			resp, err := cl.InvokeSync(ctx, addr, req)
			must(t, err)
			if string(resp.Body) != "hello" || resp.ExtFields.Get("k") != "v" || !resp.IsResponse() || resp.Code != CodeSuccess {
				t.Fatalf("sync response %v", resp)
			}
			wantType := SerializeRocketMQ
			if json {
				wantType = SerializeJSON
			}
			if resp.Serialize != wantType {
				t.Fatalf("response serialized as %v, want the request's %v", resp.Serialize, wantType)
			}

			got := make(chan *Command, 1)
			cl.InvokeAsync(ctx, addr, req, func(resp *Command, err error) {
				if err != nil {
					t.Error(err)
				}
				got <- resp
			})
			if r := waitFor(t, got, "async response"); string(r.Body) != "hello" {
				t.Fatalf("async response %v", r)
			}

			must(t, cl.InvokeOneway(ctx, addr, NewRequest(codeBlock, nil, []byte("fire"))))
			if r := waitFor(t, oneways, "oneway request"); !r.IsOneway() || string(r.Body) != "fire" {
				t.Fatalf("oneway request arrived as %v", r)
			}
			// req is shared by the three calls and must be untouched.
			if req.Opaque != 0 || req.Flag != 0 {
				t.Fatalf("request was modified: %v", req)
			}
		})
	}
}

func TestConcurrentCallsShareOneConnection(t *testing.T) {
	var accepted atomic.Int32
	s, addr := startServer(t, ServerOptions{}, func(s *Server) {
		must(t, s.RegisterProcessor(codeEcho, ProcessorFunc(func(ctx context.Context, c *Conn, req *Command) (*Command, error) {
			return echo(ctx, c, req)
		}), PoolOptions{}))
	})
	_ = s
	cl := newTestClient(t, ClientOptions{})
	var wg sync.WaitGroup
	for i := range 64 {
		wg.Go(func() {
			body := []byte(fmt.Sprint(i))
			for range 20 {
				resp, err := cl.InvokeSync(context.Background(), addr, NewRequest(codeEcho, nil, body))
				if err != nil {
					t.Error(err)
					return
				}
				if !bytes.Equal(resp.Body, body) {
					t.Errorf("caller %d got %q: responses crossed", i, resp.Body)
					return
				}
			}
		})
	}
	wg.Wait()
	accepted.Store(int32(len(s.Conns())))
	if n := accepted.Load(); n != 1 {
		t.Fatalf("%d connections, want one shared connection", n)
	}
}

func TestPoolSizeSpreadsConnections(t *testing.T) {
	s, addr := startServer(t, ServerOptions{}, func(s *Server) { must(t, s.RegisterProcessor(codeEcho, echo, PoolOptions{})) })
	cl := newTestClient(t, ClientOptions{PoolSize: 3})
	for range 6 {
		_, err := cl.InvokeSync(context.Background(), addr, NewRequest(codeEcho, nil, nil))
		must(t, err)
	}
	if n := len(s.Conns()); n != 3 {
		t.Fatalf("%d connections, want PoolSize 3", n)
	}
}

func blockingServer(t *testing.T, opts ServerOptions, pool PoolOptions) (*Server, string, chan *Command, chan struct{}) {
	started := make(chan *Command, 100)
	release := make(chan struct{})
	s, addr := startServer(t, opts, func(s *Server) {
		must(t, s.RegisterProcessor(codeEcho, echo, PoolOptions{}))
		must(t, s.RegisterProcessor(codeBlock, ProcessorFunc(func(ctx context.Context, _ *Conn, req *Command) (*Command, error) {
			started <- req
			select {
			case <-release:
			case <-ctx.Done():
			}
			return NewResponse(req, CodeSuccess, "released"), nil
		}), pool))
	})
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release)
		}
	})
	return s, addr, started, release
}

func TestDeadline(t *testing.T) {
	_, addr, started, release := blockingServer(t, ServerOptions{}, PoolOptions{})
	cl := newTestClient(t, ClientOptions{})
	tests := []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
		want []error
	}{
		{"context deadline", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 50*time.Millisecond)
		}, []error{ErrTimeout, context.DeadlineExceeded}},
		{"cancelled", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			go func() { <-started; cancel() }()
			return ctx, cancel
		}, []error{context.Canceled}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := tc.ctx()
			defer cancel()
			start := time.Now()
			_, err := cl.InvokeSync(ctx, addr, NewRequest(codeBlock, nil, nil))
			for _, w := range tc.want {
				if !errors.Is(err, w) {
					t.Fatalf("err = %v, want %v", err, w)
				}
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Fatalf("call took %v", d)
			}
		})
	}
	// A default timeout applies to a context without a deadline.
	// It is never early: the reaper counts whole ticks from the send.
	cl2 := newTestClient(t, ClientOptions{ConnOptions: ConnOptions{Timeout: 30 * time.Millisecond}})
	for range 3 {
		start := time.Now()
		_, err := cl2.InvokeSync(context.Background(), addr, NewRequest(codeBlock, nil, nil))
		if !errors.Is(err, ErrTimeout) || !strings.Contains(err.Error(), "Options.Timeout") {
			t.Fatalf("default timeout: %v", err)
		}
		if d := time.Since(start); d < 30*time.Millisecond || d > 5*time.Second {
			t.Fatalf("default timeout after %v, want at least 30ms", d)
		}
	}
	// Async calls are reaped too, and give their permit back.
	cl3 := newTestClient(t, ClientOptions{ConnOptions: ConnOptions{AsyncPermits: 1, Timeout: 30 * time.Millisecond}})
	for i := range 3 {
		done := make(chan error, 1)
		cl3.InvokeAsync(context.Background(), addr, NewRequest(codeBlock, nil, nil), func(_ *Command, err error) { done <- err })
		if err := waitFor(t, done, "async deadline"); !errors.Is(err, ErrTimeout) {
			t.Fatalf("async call %d: %v, want a timeout (a leaked permit gives too many requests)", i, err)
		}
	}
	close(release)
}

func TestPermits(t *testing.T) {
	_, addr, started, release := blockingServer(t, ServerOptions{}, PoolOptions{})
	cl := newTestClient(t, ClientOptions{ConnOptions: ConnOptions{AsyncPermits: 1}})
	first := make(chan error, 1)
	cl.InvokeAsync(context.Background(), addr, NewRequest(codeBlock, nil, nil), func(_ *Command, err error) { first <- err })
	waitFor(t, started, "first call to start")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	second := make(chan error, 1)
	cl.InvokeAsync(ctx, addr, NewRequest(codeBlock, nil, nil), func(_ *Command, err error) { second <- err })
	err := waitFor(t, second, "second call")
	if !errors.Is(err, ErrTooManyRequests) || !strings.Contains(err.Error(), "AsyncPermits") {
		t.Fatalf("second call: %v, want ErrTooManyRequests naming the option", err)
	}
	close(release)
	must(t, waitFor(t, first, "first call"))
}

// TestPeerKilledMidCall: the pending calls fail as soon as the connection dies, long
// before their deadline.
func TestPeerKilledMidCall(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	defer ln.Close()
	got := make(chan struct{})
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		// Both requests have arrived: close only then, or the second call could find
		// the connection gone and dial one that this listener never serves.
		for range 2 {
			var pre [4]byte
			if _, err := io.ReadFull(nc, pre[:]); err != nil {
				break
			}
			io.CopyN(io.Discard, nc, int64(binary.BigEndian.Uint32(pre[:])))
		}
		close(got)
		nc.Close()
	}()
	cl := newTestClient(t, ClientOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	async := make(chan error, 1)
	start := time.Now()
	cl.InvokeAsync(ctx, ln.Addr().String(), NewRequest(codeEcho, nil, nil), func(_ *Command, err error) { async <- err })
	_, err = cl.InvokeSync(ctx, ln.Addr().String(), NewRequest(codeEcho, nil, nil))
	<-got
	if !errors.Is(err, ErrConnectionLost) {
		t.Fatalf("sync: %v, want ErrConnectionLost", err)
	}
	if err := waitFor(t, async, "async failure"); !errors.Is(err, ErrConnectionLost) {
		t.Fatalf("async: %v, want ErrConnectionLost", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("failing took %v: pending calls waited for their deadline", d)
	}
}

func TestServerAnswers(t *testing.T) {
	_, addr := startServer(t, ServerOptions{}, func(s *Server) {
		must(t, s.RegisterProcessor(codePanic, ProcessorFunc(func(context.Context, *Conn, *Command) (*Command, error) {
			panic("boom")
		}), PoolOptions{}))
		must(t, s.RegisterProcessor(codeEcho, ProcessorFunc(func(context.Context, *Conn, *Command) (*Command, error) {
			return nil, errors.New("disk on fire")
		}), PoolOptions{}))
	})
	cl := newTestClient(t, ClientOptions{})
	tests := []struct {
		name   string
		code   int32
		want   int32
		remark string
	}{
		{"unknown code", 777, CodeRequestCodeNotSupported, " request type 777 not supported"},
		{"panic", codePanic, CodeSystemError, "processor for code 12 panicked: boom"},
		{"processor error", codeEcho, CodeSystemError, "disk on fire"},
		{"panic again: the server kept running", codePanic, CodeSystemError, "panicked"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := cl.InvokeSync(context.Background(), addr, NewRequest(tc.code, nil, nil))
			must(t, err)
			if resp.Code != tc.want || !strings.Contains(resp.Remark, tc.remark) {
				t.Fatalf("got code %d remark %q, want %d %q", resp.Code, resp.Remark, tc.want, tc.remark)
			}
		})
	}
}

func TestBusyPool(t *testing.T) {
	_, addr, started, release := blockingServer(t, ServerOptions{}, PoolOptions{Workers: 1, QueueSize: 1})
	cl := newTestClient(t, ClientOptions{})
	results := make(chan *Command, 2)
	async := func() {
		cl.InvokeAsync(context.Background(), addr, NewRequest(codeBlock, nil, nil), func(r *Command, err error) {
			if err != nil {
				t.Error(err)
			}
			results <- r
		})
	}
	async()
	waitFor(t, started, "first call to run")
	async() // waits in the queue: requests on one connection are dispatched in order
	resp, err := cl.InvokeSync(context.Background(), addr, NewRequest(codeBlock, nil, nil))
	must(t, err)
	if resp.Code != CodeSystemBusy {
		t.Fatalf("third call got %v, want SYSTEM_BUSY", resp)
	}
	if !strings.Contains(resp.Remark, "[OVERLOAD]") {
		t.Fatalf("remark %q", resp.Remark)
	}
	close(release)
	for range 2 {
		if r := waitFor(t, results, "queued calls"); r.Code != CodeSuccess {
			t.Fatalf("queued call got %v", r)
		}
	}
}

// Workers are woken one by one, each waking the next while requests are queued: a
// burst of blocking requests must still get every worker, and none may wait behind a
// blocked processor while a worker is idle.
func TestPoolWakesEveryWorkerForABurst(t *testing.T) {
	for _, workers := range []int{1, 2, 8, 32} {
		t.Run(fmt.Sprint(workers), func(t *testing.T) {
			_, addr, started, release := blockingServer(t, ServerOptions{}, PoolOptions{Workers: workers})
			cl := newTestClient(t, ClientOptions{})
			results := make(chan error, workers+1)
			for range workers + 1 {
				cl.InvokeAsync(context.Background(), addr, NewRequest(codeBlock, nil, nil), func(_ *Command, err error) { results <- err })
			}
			for i := range workers {
				waitFor(t, started, fmt.Sprintf("blocked request %d of %d to start", i+1, workers))
			}
			select {
			case <-started:
				t.Fatalf("%d requests run on %d workers", workers+1, workers)
			default:
			}
			close(release)
			waitFor(t, started, "the queued request to start once a worker is free")
			for range workers + 1 {
				must(t, waitFor(t, results, "results"))
			}
		})
	}
}

// TestBurstWithinWorkersAndQueueIsQueued: a pool holds Workers plus QueueSize requests
// that come at once, in one write, while its workers are parked: the requests its
// idle workers are about to take do not count as waiting, and only the next one is
// answered SYSTEM_BUSY.
func TestBurstWithinWorkersAndQueueIsQueued(t *testing.T) {
	for _, pool := range []PoolOptions{{Workers: 4, QueueSize: 4}, {Workers: 8, QueueSize: 1}, {Workers: 1, QueueSize: 8}} {
		t.Run(fmt.Sprintf("%d+%d", pool.Workers, pool.QueueSize), func(t *testing.T) {
			_, addr, started, release := blockingServer(t, ServerOptions{}, pool)
			nc := rawDial(t, addr)
			held := pool.Workers + pool.QueueSize
			var burst []byte
			for i := range held + 1 {
				req := NewRequest(codeBlock, nil, nil)
				req.Opaque = int32(i + 1)
				var err error
				burst, err = AppendFrame(burst, req, SerializeRocketMQ)
				must(t, err)
			}
			_, err := nc.Write(burst)
			must(t, err)
			busy, err := readOneFrame(nc)
			must(t, err)
			if busy.Code != CodeSystemBusy || busy.Opaque != int32(held+1) {
				t.Fatalf("first answer: code %d to request %d, want SYSTEM_BUSY to the last request, %d", busy.Code, busy.Opaque, held+1)
			}
			for i := range pool.Workers {
				waitFor(t, started, fmt.Sprintf("blocked request %d of %d to start", i+1, pool.Workers))
			}
			close(release)
			for range held {
				resp, err := readOneFrame(nc)
				must(t, err)
				if resp.Code != CodeSuccess {
					t.Fatalf("request %d answered %d %q, want it run", resp.Opaque, resp.Code, resp.Remark)
				}
			}
		})
	}
}

func TestReceivedAt(t *testing.T) {
	got := make(chan time.Time, 1)
	_, addr := startServer(t, ServerOptions{}, func(s *Server) {
		must(t, s.RegisterProcessor(codeEcho, ProcessorFunc(func(_ context.Context, _ *Conn, req *Command) (*Command, error) {
			got <- req.ReceivedAt()
			return NewResponse(req, CodeSuccess, ""), nil
		}), PoolOptions{}))
	})
	cl := newTestClient(t, ClientOptions{})
	before := time.Now()
	resp, err := cl.InvokeSync(context.Background(), addr, NewRequest(codeEcho, nil, nil))
	must(t, err)
	after := time.Now()
	for _, at := range []time.Time{waitFor(t, got, "the request's arrival"), resp.ReceivedAt()} {
		if at.Before(before) || at.After(after) {
			t.Fatalf("received at %v, outside the call's %v to %v", at, before, after)
		}
	}
	if !NewRequest(codeEcho, nil, nil).ReceivedAt().IsZero() {
		t.Fatal("a command built locally has an arrival time")
	}
}

// A timed-out async call's callback runs aside: while it blocks, the connection's
// other calls still time out.
func TestBlockedTimeoutCallbackStallsNothing(t *testing.T) {
	_, addr, _, _ := blockingServer(t, ServerOptions{}, PoolOptions{})
	cl := newTestClient(t, ClientOptions{ConnOptions: ConnOptions{Timeout: 40 * time.Millisecond}})
	inCallback, unblock := make(chan struct{}), make(chan struct{})
	cl.InvokeAsync(context.Background(), addr, NewRequest(codeBlock, nil, nil), func(_ *Command, err error) {
		close(inCallback)
		<-unblock
	})
	waitFor(t, inCallback, "the async call to time out")
	defer close(unblock)
	_, err := cl.InvokeSync(context.Background(), addr, NewRequest(codeBlock, nil, nil))
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("sync call while a timeout callback blocks: %v, want a timeout", err)
	}
}
