package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
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
			var all []string
			for _, r := range s.matching("") {
				text := r.Message
				r.Attrs(func(a slog.Attr) bool { text += " " + a.String(); return true })
				all = append(all, text)
			}
			t.Fatalf("%d log records say %q within %v, want %d; all records:\n%s", len(s.matching(msg)), msg, limit, n, strings.Join(all, "\n"))
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

// codeBig is answered with a large body, so that a peer's unread output grows fast.
const codeBig int32 = 13

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
		must(t, s.RegisterProcessor(codeBig, bigAnswer(answer), PoolOptions{Workers: 8}))
		must(t, s.RegisterProcessor(codeEcho, echo, PoolOptions{Workers: 8}))
	})
	start := time.Now()
	hostilePeers(t, addr, peers, func(nc net.Conn) { pipeline(nc, codeBig) })
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

// A connection with MaxConnInflight requests being handled reads nothing more from its
// peer until they are answered: the peer's pipelined requests wait in TCP, and none is
// turned away. A cap under the 4 a connection may always have of MaxInflight holds too.
func TestInflightCapStopsReading(t *testing.T) {
	for _, limit := range []int{1, 2, 3, 4, 10} {
		t.Run(fmt.Sprint(limit), func(t *testing.T) { testInflightCapStopsReading(t, limit) })
	}
}

func testInflightCapStopsReading(t *testing.T, limit int) {
	const sent = 30
	started := make(chan struct{}, sent)
	release := make(chan struct{})
	var mu sync.Mutex
	running, most := 0, 0
	waits := make(chan struct{}, sent)
	s, addr := startServer(t, ServerOptions{ConnOptions: ConnOptions{MaxConnInflight: limit}}, func(s *Server) {
		must(t, s.RegisterProcessor(codeBlock, ProcessorFunc(func(_ context.Context, _ *Conn, req *Command) (*Command, error) {
			mu.Lock()
			running++
			most = max(most, running)
			mu.Unlock()
			started <- struct{}{}
			<-release
			mu.Lock()
			running--
			mu.Unlock()
			return NewResponse(req, CodeSuccess, ""), nil
		}), PoolOptions{Workers: sent}))
	})
	s.cfg.readerWaits = func(*Conn) {
		select {
		case waits <- struct{}{}:
		default:
		}
	}
	nc := rawDial(t, addr)
	var frames []byte
	for i := range sent {
		req := NewRequest(codeBlock, nil, nil)
		req.Opaque = int32(i)
		frames, _ = AppendFrame(frames, req, SerializeRocketMQ)
	}
	_, err := nc.Write(frames)
	must(t, err)
	for i := range limit {
		waitFor(t, started, fmt.Sprintf("request %d to start", i+1))
	}
	waitFor(t, waits, "the reader to stop at the cap")
	mu.Lock()
	if running != limit {
		t.Errorf("%d requests running when the reader stopped, want %d", running, limit)
	}
	mu.Unlock()
	close(release)
	for i := range sent {
		if r := readRawFrame(t, nc); r.Code != CodeSuccess {
			t.Fatalf("answer %d: code %d %q, want success: nothing is turned away", i, r.Code, r.Remark)
		}
	}
	if most > limit {
		t.Errorf("%d requests of one connection ran at once, the cap is %d", most, limit)
	}
}

// Connections beyond MaxConns are closed at once, and the log says so; once one
// closes, a new one is served.
func TestConnectionCap(t *testing.T) {
	const limit = 3
	logs := newLogSink()
	_, addr := startServer(t, ServerOptions{MaxConns: limit, ConnOptions: ConnOptions{Logger: logs.logger()}}, nil)
	ping := func(nc net.Conn) error {
		f, _ := AppendFrame(nil, &Command{Code: codePing}, SerializeRocketMQ)
		if _, err := nc.Write(f); err != nil {
			return err
		}
		nc.SetReadDeadline(time.Now().Add(10 * time.Second))
		var b [4]byte
		_, err := ioReadFull(nc, b[:])
		return err
	}
	var held []net.Conn
	for i := range limit {
		nc := rawDial(t, addr)
		if err := ping(nc); err != nil {
			t.Fatalf("connection %d of %d: %v", i+1, limit, err)
		}
		held = append(held, nc)
	}
	extra := rawDial(t, addr)
	if err := ping(extra); err == nil {
		t.Fatalf("connection %d beyond MaxConns %d was served", limit+1, limit)
	}
	logs.waitCount(t, "refusing connections", 1, 10*time.Second)
	held[0].Close()
	// The server forgets the closed connection once it reads its end: try until then.
	for try := 0; ; try++ {
		if try == 100 {
			t.Fatal("no new connection served after one of the held ones closed")
		}
		if ping(rawDial(t, addr)) == nil {
			break
		}
	}
}

// A frame that announces the maximum size and stalls holds what it sent, plus less
// than the piece being read: not what it announced.
func TestStalledLargeFramesHoldWhatTheySent(t *testing.T) {
	const peers, sent = 20, firstChunk + 2*firstChunk // the first two pieces
	read := make(chan struct{}, peers)
	s, addr := startServer(t, ServerOptions{ConnOptions: ConnOptions{MaxFrameMemory: 1 << 30}}, nil)
	s.cfg.bodyRead = func(got, _ int) {
		if got == sent {
			read <- struct{}{}
		}
	}
	header := NewRequest(codeEcho, nil, nil)
	frame, _ := AppendFrame(nil, header, SerializeRocketMQ)
	announce := DefaultMaxFrameSize - frameLenSize
	frame[0], frame[1], frame[2], frame[3] = byte(announce>>24), byte(announce>>16), byte(announce>>8), byte(announce)
	frame = append(frame, make([]byte, sent)...)
	before := heapInUse()
	for range peers {
		nc := rawDial(t, addr)
		_, err := nc.Write(frame)
		must(t, err)
	}
	for i := range peers {
		waitFor(t, read, fmt.Sprintf("peer %d's bytes to be read", i+1))
	}
	grew := max(heapInUse(), before) - before // the heap may shrink: other tests' memory goes
	// Each holds its pieces, the next one (4 × firstChunk), a read buffer and change.
	if limit := uint64(peers * (sent + 4*firstChunk + 64<<10 + 64<<10)); grew > limit {
		t.Errorf("%d stalled frames of %d bytes announced, %d sent: the heap grew by %d bytes, want at most %d", peers, announce, sent, grew, limit)
	}
	t.Logf("%d stalled frames: the heap grew by %d KiB", peers, grew>>10)
}

func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// Large bodies wait for room in MaxFrameMemory; small requests never do, so peers
// that fill it with large requests nobody answers cost good callers nothing, and a
// connection that waits for room longer than IdleTimeout is closed with a logged
// reason. The frame that takes the budget's lane may hold it beyond the budget.
func TestFrameMemoryBudget(t *testing.T) {
	const peers = 4
	logs := newLogSink()
	release := make(chan struct{})
	// IdleTimeout also bounds how long a frame may take to arrive whole: a loaded
	// machine under the race detector has taken over a second for 12 MiB.
	opts := ServerOptions{ConnOptions: ConnOptions{Logger: logs.logger(), MaxFrameMemory: 2 * DefaultMaxFrameSize, IdleTimeout: 5 * time.Second}}
	s, addr := startServer(t, opts, func(s *Server) {
		must(t, s.RegisterProcessor(codeEcho, echo, PoolOptions{}))
		must(t, s.RegisterProcessor(codeBlock, ProcessorFunc(func(_ context.Context, _ *Conn, req *Command) (*Command, error) {
			<-release // its body stays charged until it is answered
			return NewResponse(req, CodeSuccess, ""), nil
		}), PoolOptions{Workers: peers}))
	})
	t.Cleanup(func() { close(release) }) // before the server closes: cleanups run last first
	// 4 × 12 MiB requests whole: more than the budget (32 MiB) and the lane's frame.
	frame, err := AppendFrame(nil, NewRequest(codeBlock, nil, make([]byte, 12<<20)), SerializeRocketMQ)
	must(t, err)
	hostilePeers(t, addr, peers, func(nc net.Conn) {
		nc.Write(frame)
		io.Copy(io.Discard, nc) // until the server, or the test's end, closes it
	})
	cl := newTestClient(t, ClientOptions{})
	calls, errs, _ := goodCalls(t, cl, addr, 10, 300*time.Millisecond)
	if len(errs) > 0 {
		t.Fatalf("%d of %d small calls failed while large requests held the budget: %v", len(errs), calls, errs[0])
	}
	logs.waitCount(t, "no memory for its next frame", 1, 30*time.Second)
	used := s.cfg.frames.used.Load()
	if used > s.cfg.frames.max+DefaultMaxFrameSize {
		t.Errorf("%d bytes of bodies held, the budget is %d and one frame", used, s.cfg.frames.max)
	}
}

// TestReaderWakesWithServerWideRoom: a connection stopped by the server-wide cap
// (MaxInflight) reads again when one of its requests is answered and the room it
// frees is there. The server-wide count used to drop after the connection's reader
// was woken: the reader looked, found the cap still full, and waited on, for nobody
// woke it again.
func TestReaderWakesWithServerWideRoom(t *testing.T) {
	var mu sync.Mutex
	gates := map[string]chan struct{}{}
	open := false // the test ended: every gate, also one made later, is open
	gate := func(k string) chan struct{} {
		mu.Lock()
		defer mu.Unlock()
		if gates[k] == nil {
			gates[k] = make(chan struct{})
			if open {
				close(gates[k])
			}
		}
		return gates[k]
	}
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		open = true
		for _, ch := range gates {
			select {
			case <-ch:
			default:
				close(ch)
			}
		}
	}()
	started, waits := make(chan string, 64), make(chan struct{}, 64)
	ending := make(chan struct{}) // A0's context ends while this is open: between its answer and its count
	s, addr := startServer(t, ServerOptions{ConnOptions: ConnOptions{MaxInflight: 16, Logger: quiet}}, func(s *Server) {
		must(t, s.RegisterProcessor(codeBlock, ProcessorFunc(func(ctx context.Context, _ *Conn, req *Command) (*Command, error) {
			key := string(req.Body)
			if key == "A0" {
				context.AfterFunc(ctx, func() { <-ending })
			}
			if key != "probe" {
				started <- key
				<-gate(key)
			}
			return NewResponse(req, CodeSuccess, key), nil
		}), PoolOptions{Workers: 32}))
	})
	s.cfg.readerWaits = func(*Conn) { waits <- struct{}{} }
	send := func(nc net.Conn, opaque int32, key string) {
		req := NewRequest(codeBlock, nil, []byte(key))
		req.Opaque = opaque
		b, err := AppendFrame(nil, req, SerializeRocketMQ)
		must(t, err)
		_, err = nc.Write(b)
		must(t, err)
	}
	b := rawDial(t, addr)
	defer b.Close()
	for i := range 10 {
		send(b, int32(i), fmt.Sprint("B", i))
	}
	for range 10 {
		waitFor(t, started, "one of B's requests")
	}
	a := rawDial(t, addr)
	defer a.Close()
	for i := range 6 { // 16 in flight: A's reader stops on the server-wide cap
		send(a, int32(i), fmt.Sprint("A", i))
	}
	for range 6 {
		waitFor(t, started, "one of A's requests")
	}
	waitFor(t, waits, "A's reader to stop")
	send(a, 100, "probe") // waits in the socket until A's reader reads again
	for len(waits) > 0 {
		<-waits
	}
	close(gate("A0"))
	if r := readRawFrame(t, a); r.Remark != "A0" {
		t.Fatalf("got the answer of %q, want A0's", r.Remark)
	}
	// The reader may look now, as it did when the server-wide count dropped last:
	// give it the chance to find the cap full and stop again, then let the count drop.
	select {
	case <-waits:
	case <-time.After(200 * time.Millisecond):
	}
	close(ending)
	if r := readRawFrame(t, a); r.Remark != "probe" {
		t.Fatalf("got the answer of %q, want the probe's: A's reader did not read again with 15 of 16 in flight", r.Remark)
	}
}

// A peer that never reads gets little work done for it: the responses queued for it in
// the kernel count as its unread output, not only those the connection holds. The
// socket's unsent bytes are bounded too (TCP_NOTSENT_LOWAT), where the kernel's own
// send buffer grows to 4 MiB a connection, each megabyte of it answers computed for a
// peer that will never read them, and kernel memory no bound of ringrpc's counted.
func TestNonReadingPeerHasLittleAnswered(t *testing.T) {
	if !boundsUnsent {
		t.Skip("this system's sockets do not bound their unsent bytes")
	}
	const answer = 1 << 10
	for _, c := range []struct {
		name     string
		opts     ConnOptions
		inflight int
	}{
		{"MaxConnInflight 16", ConnOptions{MaxUnreadOutput: 64 << 10, MaxConnInflight: 16}, 16},
		// With the defaults, a pipelining peer's 1024 requests are read before the
		// first answer is queued.
		{"defaults", ConnOptions{}, DefaultMaxConnInflight},
	} {
		t.Run(c.name, func(t *testing.T) {
			var answered atomic.Int64
			big := bigAnswer(answer)
			_, addr := startServer(t, ServerOptions{ConnOptions: c.opts}, func(s *Server) {
				must(t, s.RegisterProcessor(codeBig, ProcessorFunc(func(ctx context.Context, c *Conn, req *Command) (*Command, error) {
					answered.Add(1)
					return big.Process(ctx, c, req)
				}), PoolOptions{}))
			})
			nc := rawDial(t, addr)
			nc.(*net.TCPConn).SetReadBuffer(4 << 10)
			var batch []byte
			for i := range 64 {
				req := NewRequest(codeBig, nil, nil)
				req.Opaque = int32(i)
				batch, _ = AppendFrame(batch, req, SerializeRocketMQ)
			}
			// The server has stopped reading once a write waits: every buffer in
			// between is full.
			deadline := time.Now().Add(30 * time.Second)
			for {
				nc.SetWriteDeadline(time.Now().Add(300 * time.Millisecond))
				if _, err := nc.Write(batch); err != nil {
					if !errors.Is(err, os.ErrDeadlineExceeded) {
						t.Fatal(err)
					}
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("the server still reads a peer that never read after 30 s; %d answered", answered.Load())
				}
			}
			// What is queued: the connection's unread output, the socket's unsent
			// bytes (as much again) and what the peer's small receive buffer took
			// (the kernel rounds it up: up to 79 KiB was seen, where 64 KiB was
			// allowed), with room for the answers of the requests in flight.
			// Unbounded, it is megabytes.
			unread := int64(orDefault(c.opts.MaxUnreadOutput, DefaultMaxUnreadOutput))
			bound := 2*unread + 96<<10 + int64(c.inflight)*(answer+64)
			if got := answered.Load() * (answer + 29); got > bound {
				t.Errorf("%d answers (%d KiB) computed for a peer that never reads, want at most %d KiB", answered.Load(), got>>10, bound>>10)
			}
		})
	}
}
