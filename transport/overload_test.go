package transport

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// logSink keeps the records logged through its logger, for tests that check what a
// server said and why.
type logSink struct {
	mu      sync.Mutex
	records []slog.Record
	notify  chan struct{}
}

func newLogSink() *logSink { return &logSink{notify: make(chan struct{}, 1)} }

func (s *logSink) logger() *slog.Logger { return slog.New(s) }

func (s *logSink) Enabled(context.Context, slog.Level) bool { return true }
func (s *logSink) WithAttrs([]slog.Attr) slog.Handler       { return s }
func (s *logSink) WithGroup(string) slog.Handler            { return s }

func (s *logSink) Handle(_ context.Context, r slog.Record) error {
	s.mu.Lock()
	s.records = append(s.records, r.Clone())
	s.mu.Unlock()
	select {
	case s.notify <- struct{}{}:
	default:
	}
	return nil
}

// matching returns the records whose message contains msg.
func (s *logSink) matching(msg string) []slog.Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []slog.Record
	for _, r := range s.records {
		if strings.Contains(r.Message, msg) {
			out = append(out, r)
		}
	}
	return out
}

// waitCount waits until n records contain msg, and returns them.
func (s *logSink) waitCount(t testing.TB, msg string, n int, limit time.Duration) []slog.Record {
	t.Helper()
	deadline := time.NewTimer(limit)
	defer deadline.Stop()
	for {
		if got := s.matching(msg); len(got) >= n {
			return got
		}
		select {
		case <-s.notify:
		case <-deadline.C:
			t.Fatalf("%d log records say %q within %v, want %d", len(s.matching(msg)), msg, limit, n)
		}
	}
}

func attrInt(r slog.Record, key string) (int64, bool) {
	var v int64
	found := false
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == key {
			v, found = a.Value.Int64(), true
			return false
		}
		return true
	})
	return v, found
}

// pipeline writes requests for code on nc as fast as the socket takes them and never
// reads, until a write fails.
func pipeline(nc net.Conn, code int32) {
	var batch []byte
	for i := range 64 {
		req := NewRequest(code, nil, nil)
		req.Opaque = int32(i)
		batch, _ = AppendFrame(batch, req, SerializeRocketMQ)
	}
	for {
		if _, err := nc.Write(batch); err != nil {
			return
		}
	}
}

// hostilePeers dials n raw connections that each run peer until the test ends (or
// the server closes them).
func hostilePeers(t *testing.T, addr string, n int, peer func(net.Conn)) {
	var wg sync.WaitGroup
	t.Cleanup(wg.Wait) // after the connections close: cleanups run last first
	for range n {
		nc := rawDial(t, addr)
		nc.(*net.TCPConn).SetReadBuffer(4 << 10) // fill up soon, and spare the kernel
		wg.Go(func() { peer(nc) })
	}
}

// goodCalls calls from callers goroutines until d has passed, and returns the errors
// and the slowest call.
func goodCalls(t *testing.T, cl *Client, addr string, callers int, d time.Duration) (calls int, errs []error, slowest time.Duration) {
	t.Helper()
	var mu sync.Mutex
	var wg sync.WaitGroup
	end := time.Now().Add(d)
	for range callers {
		wg.Go(func() {
			for time.Now().Before(end) {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				start := time.Now()
				resp, err := cl.InvokeSync(ctx, addr, NewRequest(codeEcho, nil, []byte("hello")))
				took := time.Since(start)
				if err == nil && resp.Code != CodeSuccess {
					err = fmt.Errorf("answered code %d: %s", resp.Code, resp.Remark)
				}
				cancel()
				mu.Lock()
				calls++
				if err != nil {
					errs = append(errs, err)
				}
				slowest = max(slowest, took)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return calls, errs, slowest
}

// bigAnswer answers every request with a body of n bytes.
func bigAnswer(n int) Processor {
	body := make([]byte, n)
	return ProcessorFunc(func(_ context.Context, _ *Conn, req *Command) (*Command, error) {
		resp := NewResponse(req, CodeSuccess, "")
		resp.Body = body
		return resp, nil
	})
}

// Peers that pipeline requests and never read their answers cost only their own
// connections: the shared workers never wait for them, a good client on another
// connection keeps being answered, and each bad connection is closed, with a logged
// reason, once its output stayed unread for the write timeout. What it had queued
// stayed within the unread-output bound plus what its requests in flight answered.
func TestNonReadingPeersCostOnlyTheirConnections(t *testing.T) {
	const (
		peers       = 50
		answer      = 16 << 10
		writeLimit  = 3 * time.Second
		unreadLimit = 64 << 10
	)
	logs := newLogSink()
	// Small bounds keep the hostile burst short under -race; the defaults are measured
	// by the load tests (RINGRPC_LOAD=1).
	opts := ServerOptions{ConnOptions: ConnOptions{Logger: logs.logger(), WriteTimeout: writeLimit,
		MaxUnreadOutput: unreadLimit, MaxInflight: 1024}}
	_, addr := startServer(t, opts, func(s *Server) {
		must(t, s.RegisterProcessor(codeEcho, bigAnswer(answer), PoolOptions{Workers: 8}))
	})
	start := time.Now()
	hostilePeers(t, addr, peers, func(nc net.Conn) { pipeline(nc, codeEcho) })
	cl := newTestClient(t, ClientOptions{})
	calls, errs, slowest := goodCalls(t, cl, addr, 10, writeLimit-500*time.Millisecond)
	if len(errs) > 0 {
		t.Fatalf("the good client: %d of %d calls failed while %d peers did not read, the first: %v", len(errs), calls, peers, errs[0])
	}
	t.Logf("the good client: %d calls, the slowest %v", calls, slowest)
	closed := logs.waitCount(t, "did not read", peers, writeLimit+30*time.Second)
	if took := time.Since(start); took < writeLimit {
		t.Errorf("bad connections closed after %v, before the write timeout of %v", took, writeLimit)
	}
	bound := int64(unreadLimit + DefaultMaxConnInflight*(answer+64))
	for _, r := range closed {
		unread, ok := attrInt(r, "unread")
		if !ok || unread > bound {
			t.Errorf("a closed connection had %d bytes unread (logged: %v), want at most %d", unread, ok, bound)
		}
	}
}

var _ = errors.Is
