package transport

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const codeStreamEcho int32 = 30

// streamEcho sends back every message of the stream its request opened, then answers
// with the number of messages; it reports how its context ended.
func streamEcho(ended chan<- error) ProcessorFunc {
	return func(ctx context.Context, conn *Conn, req *Command) (*Command, error) {
		st := conn.InboundStream(req)
		if st == nil {
			return nil, errors.New("no stream")
		}
		n := 0
		for {
			body, err := st.Recv()
			if err != nil {
				ended <- ctx.Err()
				if err == io.EOF {
					resp := NewResponse(req, CodeSuccess, "")
					resp.Body = []byte(strconv.Itoa(n))
					return resp, nil
				}
				return nil, err
			}
			n++
			if err := st.Send(body); err != nil {
				ended <- ctx.Err()
				return nil, err
			}
		}
	}
}

func startStreamServer(t *testing.T, opts ServerOptions) (*Server, string, chan error) {
	ended := make(chan error, 100)
	s, addr := startServer(t, opts, func(s *Server) {
		must(t, s.RegisterProcessor(codeStreamEcho, streamEcho(ended), PoolOptions{}))
	})
	return s, addr, ended
}

func TestStreamEchoInOrder(t *testing.T) {
	_, addr, ended := startStreamServer(t, ServerOptions{})
	cl := newTestClient(t, ClientOptions{ConnOptions: ConnOptions{StreamWindow: 4}})
	conn, err := cl.Conn(context.Background(), addr)
	must(t, err)
	st, err := conn.OpenStream(context.Background(), NewRequest(codeStreamEcho, nil, nil))
	must(t, err)
	go func() {
		for i := range 1000 {
			if err := st.Send([]byte(strconv.Itoa(i))); err != nil {
				return
			}
		}
		st.CloseSend()
	}()
	for i := range 1000 {
		body, err := st.Recv()
		if err != nil || string(body) != strconv.Itoa(i) {
			t.Fatalf("message %d: %q, %v", i, body, err)
		}
	}
	if _, err := st.Recv(); err != io.EOF {
		t.Fatalf("after the messages: %v, want io.EOF", err)
	}
	if resp := st.Response(); resp == nil || string(resp.Body) != "1000" {
		t.Fatalf("response %v", resp)
	}
	if err := waitFor(t, ended, "the processor's end"); err != nil {
		t.Fatalf("the processor's context ended early: %v", err)
	}
	if err := st.Send([]byte("late")); !errors.Is(err, ErrStreamEnded) {
		t.Fatalf("a send after the end: %v", err)
	}
	if n := conn.OpenStreams(); n != 0 {
		t.Fatalf("%d streams still open", n)
	}
}

// TestStreamLimits: streams beyond MaxConnStreams are refused busy by the acceptor, and
// not opened by the opener.
func TestStreamLimits(t *testing.T) {
	open := func(t *testing.T, conn *Conn) *Stream {
		t.Helper()
		st, err := conn.OpenStream(context.Background(), NewRequest(codeStreamEcho, nil, nil))
		must(t, err)
		t.Cleanup(st.Close)
		<-st.Ready()
		return st
	}
	t.Run("acceptor", func(t *testing.T) {
		_, addr, _ := startStreamServer(t, ServerOptions{ConnOptions: ConnOptions{MaxConnStreams: 1}})
		conn, err := newTestClient(t, ClientOptions{}).Conn(context.Background(), addr)
		must(t, err)
		if first := open(t, conn); !first.Accepted() {
			t.Fatalf("the first stream was refused: %v", first.Response())
		}
		second := open(t, conn)
		if second.Accepted() || second.Response() == nil || second.Response().Code != CodeSystemBusy {
			t.Fatalf("a stream beyond the acceptor's limit: accepted %v, response %v", second.Accepted(), second.Response())
		}
		if r := second.Response().Remark; !strings.Contains(r, "MaxConnStreams") || !strings.Contains(r, "close the streams you are done with") {
			t.Errorf("the refusal says %q: want the limit and what to do", r)
		}
		// The refused stream left the opener's count before it was seen ended.
		if n := conn.OpenStreams(); n != 1 {
			t.Fatalf("%d streams counted open after a refusal, want 1", n)
		}
	})
	t.Run("opener", func(t *testing.T) {
		_, addr, _ := startStreamServer(t, ServerOptions{})
		conn, err := newTestClient(t, ClientOptions{ConnOptions: ConnOptions{MaxConnStreams: 2}}).Conn(context.Background(), addr)
		must(t, err)
		for range 2 {
			if st := open(t, conn); !st.Accepted() {
				t.Fatalf("a stream within the limits was refused: %v", st.Response())
			}
		}
		if _, err := conn.OpenStream(context.Background(), NewRequest(codeStreamEcho, nil, nil)); !errors.Is(err, ErrTooManyRequests) {
			t.Fatalf("a stream beyond the opener's limit: %v", err)
		}
	})
}

// TestStreamProtocolViolation: a message beyond the credit, or out of order, or a
// grant above any window, ends the acceptor's side of that stream only. The processor
// takes no message, so that no grant of its own makes room for the fifth.
func TestStreamProtocolViolation(t *testing.T) {
	one := rawMsg{count: 0, body: []byte("m")}
	at := func(seq int, m rawMsg) rawMsg { m.seq = seq; return m }
	for _, tc := range []struct {
		name   string
		frames []rawMsg
		grant  string // then a grant of this many
		says   string // what the stream's error says, when checked
	}{
		{"out of order", []rawMsg{at(1, one), at(3, one)}, "", "message 3 where 2 was due"},
		{"beyond the credit", []rawMsg{at(1, one), at(2, one), at(3, one), at(4, one), at(5, one)}, "", "messages 5 to 5 beyond the credit: 0 left of a window of 4"},
		{"a frame beyond the credit", []rawMsg{{seq: 1, count: 5, body: lengthPrefixed("a", "b", "c", "d", "e")}}, "", "messages 1 to 5 beyond the credit: 4 left of a window of 4"},
		{"a body short of its count", []rawMsg{{seq: 1, count: 3, body: lengthPrefixed("a", "b")}}, "", ""},
		{"a grant above 1048576 unused", nil, "1048500", ""}, // 100 unused already
	} {
		t.Run(tc.name, func(t *testing.T) {
			ended := make(chan error, 1)
			_, addr := startServer(t, ServerOptions{ConnOptions: ConnOptions{StreamWindow: 4}}, func(s *Server) {
				must(t, s.RegisterProcessor(codeStreamIdle, ProcessorFunc(func(ctx context.Context, conn *Conn, req *Command) (*Command, error) {
					st := conn.InboundStream(req)
					_, err := idleStream(ctx, conn, req)
					if err != nil && st != nil && st.Err() != nil {
						err = st.Err() // why the stream ended
					}
					ended <- err
					return nil, err
				}), PoolOptions{}))
			})
			nc := rawDial(t, addr)
			open := NewRequest(codeStreamIdle, Fields{{fieldStreamWindow, "100"}}, nil)
			open.Opaque, open.Flag = 1, flagStream
			b, _ := AppendFrame(nil, open, SerializeRocketMQ)
			if _, err := nc.Write(b); err != nil {
				t.Fatal(err)
			}
			if credit := readRawFrame(t, nc); credit.Code != codeStreamDown || credit.ExtFields.Get(fieldStreamCredit) != "4" {
				t.Fatalf("first frame %v, want the grant of the window", credit)
			}
			for i, m := range tc.frames {
				writeRaw(t, nc, m.frame("1", int32(10+i)))
			}
			if tc.grant != "" {
				g := NewRequest(codeStreamUp, Fields{{fieldStreamID, "1"}, {fieldStreamCredit, tc.grant}}, nil)
				g.Opaque, g.Flag = 9, FlagOneway
				writeRaw(t, nc, g)
			}
			err := waitFor(t, ended, "the processor's end")
			if err == nil {
				t.Fatal("the processor's context did not end")
			}
			if !strings.Contains(err.Error(), tc.says) {
				t.Errorf("the stream ended with %q, want it to say %q", err, tc.says)
			}
		})
	}
}

// rawMsg is a frame of messages that a test writes by hand: a count of 0 sends one
// message as the body.
type rawMsg struct {
	seq, count int
	body       []byte
}

func (m rawMsg) frame(sid string, opaque int32) *Command {
	fs := Fields{{fieldStreamID, sid}, {fieldStreamSeq, strconv.Itoa(m.seq)}}
	if m.count > 0 {
		fs = append(fs, Field{fieldStreamCount, strconv.Itoa(m.count)})
	}
	f := NewRequest(codeStreamUp, fs, m.body)
	f.Opaque, f.Flag = opaque, FlagOneway
	return f
}

// lengthPrefixed is the body of a frame that carries the messages ms.
func lengthPrefixed(ms ...string) []byte {
	var b []byte
	for _, m := range ms {
		b = binary.BigEndian.AppendUint32(b, uint32(len(m)))
		b = append(b, m...)
	}
	return b
}

func writeRaw(t *testing.T, nc net.Conn, cmd *Command) {
	t.Helper()
	b, err := AppendFrame(nil, cmd, SerializeRocketMQ)
	must(t, err)
	if _, err := nc.Write(b); err != nil {
		t.Fatal(err)
	}
}

// TestStreamTakesGatheredFrames: a peer that sends its messages one to a frame, or
// several to a frame, or both, has them taken in order (docs/PROTOCOL.md, 9.2).
func TestStreamTakesGatheredFrames(t *testing.T) {
	_, addr, ended := startStreamServer(t, ServerOptions{})
	nc := rawDial(t, addr)
	open := NewRequest(codeStreamEcho, Fields{{fieldStreamWindow, "100"}}, nil)
	open.Opaque, open.Flag = 1, flagStream
	writeRaw(t, nc, open)
	if credit := readRawFrame(t, nc); credit.Code != codeStreamDown || credit.ExtFields.Get(fieldStreamCredit) == "" {
		t.Fatalf("first frame %v, want a grant", credit)
	}
	writeRaw(t, nc, rawMsg{seq: 1, body: []byte("a")}.frame("1", 10))
	writeRaw(t, nc, rawMsg{seq: 2, count: 3, body: lengthPrefixed("b", "", "cd")}.frame("1", 11))
	writeRaw(t, nc, rawMsg{seq: 5, count: 1, body: lengthPrefixed("e")}.frame("1", 12))
	end := NewRequest(codeStreamUp, Fields{{fieldStreamID, "1"}, {fieldStreamFlags, "1"}}, nil)
	end.Opaque, end.Flag = 13, FlagOneway
	writeRaw(t, nc, end)
	var echoed []string
	for {
		f := readRawFrame(t, nc)
		if f.IsResponse() {
			if f.Opaque != 1 || string(f.Body) != "5" {
				t.Fatalf("the response: %v %q, want the opening request's, 5 messages", f, f.Body)
			}
			break
		}
		seq, _ := f.ExtFields.Lookup(fieldStreamSeq)
		if seq == "" {
			continue // a grant
		}
		if want := strconv.Itoa(len(echoed) + 1); seq != want {
			t.Fatalf("an echo numbered %s, want %s", seq, want)
		}
		if n, ok := f.ExtFields.Lookup(fieldStreamCount); ok {
			k, _ := strconv.Atoi(n)
			ms, err := splitMessages(f.Body, int32(k), nil)
			must(t, err)
			for _, m := range ms {
				echoed = append(echoed, string(m))
			}
		} else {
			echoed = append(echoed, string(f.Body))
		}
	}
	if strings.Join(echoed, ",") != "a,b,,cd,e" {
		t.Fatalf("echoed %q, want a, b, the empty message, cd, e", echoed)
	}
	if err := waitFor(t, ended, "the processor's end"); err != nil {
		t.Fatalf("the processor: %v", err)
	}
}

// TestStreamShutdownWaits: Shutdown waits for open streams, and refuses new ones.
func TestStreamShutdownWaits(t *testing.T) {
	s, addr, ended := startStreamServer(t, ServerOptions{})
	cl := newTestClient(t, ClientOptions{})
	conn, err := cl.Conn(context.Background(), addr)
	must(t, err)
	st, err := conn.OpenStream(context.Background(), NewRequest(codeStreamEcho, nil, nil))
	must(t, err)
	<-st.Ready()
	shut := make(chan error, 1)
	go func() { shut <- s.Shutdown(context.Background()) }()
	// The stream still runs while Shutdown waits for it.
	must(t, st.Send([]byte("still")))
	if body, err := st.Recv(); err != nil || string(body) != "still" {
		t.Fatalf("during Shutdown: %q, %v", body, err)
	}
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned with a stream open: %v", err)
	default:
	}
	st.CloseSend()
	if _, err := st.Recv(); err != io.EOF {
		t.Fatal(err)
	}
	waitFor(t, ended, "the processor's end")
	if err := waitFor(t, shut, "Shutdown"); err != nil {
		t.Fatal(err)
	}
}

// TestStreamShutdownCutShort: a Shutdown whose context ends while a stream is open
// cuts it, and says so, though the stream's processor, which returns when its context
// ends, has returned by the time Shutdown does.
func TestStreamShutdownCutShort(t *testing.T) {
	s, addr, ended := startStreamServer(t, ServerOptions{})
	cl := newTestClient(t, ClientOptions{})
	conn, err := cl.Conn(context.Background(), addr)
	must(t, err)
	st, err := conn.OpenStream(context.Background(), NewRequest(codeStreamEcho, nil, nil))
	must(t, err)
	defer st.Close()
	<-st.Ready()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	err = s.Shutdown(ctx)
	var se *ShutdownError
	if !errors.As(err, &se) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown: %v, want a *ShutdownError", err)
	}
	if se.Cut != 1 || se.Streams != 1 || se.Running > 1 || se.Dropped != 0 {
		t.Errorf("Shutdown reported %d cut, %d streams, %d running, %d dropped; want 1, 1, at most 1, 0", se.Cut, se.Streams, se.Running, se.Dropped)
	}
	if want := "1 handler cut (1 serving a stream)"; !strings.Contains(err.Error(), want) {
		t.Errorf("Shutdown error %q does not say %q", err, want)
	}
	if err := waitFor(t, ended, "the processor's end"); err == nil {
		t.Error("the processor's context did not end")
	}
	if _, err := st.Recv(); !errors.Is(err, ErrConnectionLost) {
		t.Errorf("the opener's Recv: %v, want ErrConnectionLost", err)
	}
}

// TestStreamOpenerCloses: Close on the opener's side ends the acceptor's context.
func TestStreamOpenerCloses(t *testing.T) {
	_, addr, ended := startStreamServer(t, ServerOptions{})
	cl := newTestClient(t, ClientOptions{})
	conn, err := cl.Conn(context.Background(), addr)
	must(t, err)
	st, err := conn.OpenStream(context.Background(), NewRequest(codeStreamEcho, nil, nil))
	must(t, err)
	<-st.Ready()
	st.Close()
	if err := waitFor(t, ended, "the processor's end"); !errors.Is(err, context.Canceled) {
		t.Fatalf("the processor's context: %v", err)
	}
	if _, err := st.Recv(); !errors.Is(err, context.Canceled) {
		t.Fatalf("Recv after Close: %v", err)
	}
	waitUntil(t, func() bool { return conn.OpenStreams() == 0 })
}

// TestStreamCloseSendAfterContextEnded: an opener whose context ended sends no end of
// its messages, even when CloseSend comes before the stream saw its context end: a
// caller's input that stopped because its context ended is not a whole input, and the
// acceptor's context ends cancelled, with no response of success.
func TestStreamCloseSendAfterContextEnded(t *testing.T) {
	_, addr, ended := startStreamServer(t, ServerOptions{})
	cl := newTestClient(t, ClientOptions{})
	conn, err := cl.Conn(context.Background(), addr)
	must(t, err)
	for i := range 50 {
		ctx, cancel := context.WithCancel(context.Background())
		st, err := conn.OpenStream(ctx, NewRequest(codeStreamEcho, nil, nil))
		must(t, err)
		must(t, st.Send([]byte("a")))
		cancel()
		st.CloseSend() // at once: the stream's watch of ctx may not have run yet
		if err := waitFor(t, ended, "the processor's end"); !errors.Is(err, context.Canceled) {
			t.Fatalf("stream %d: the processor's input ended with its context %v, want context.Canceled", i, err)
		}
		st.Close()
	}
}

// TestStreamResetSaysWhy: the reset an opener sends when its context ends tells the
// acceptor whether the deadline passed: the processor's context ends with
// context.DeadlineExceeded then, context.Canceled for a cancellation.
func TestStreamResetSaysWhy(t *testing.T) {
	_, addr, ended := startStreamServer(t, ServerOptions{})
	cl := newTestClient(t, ClientOptions{})
	conn, err := cl.Conn(context.Background(), addr)
	must(t, err)
	for _, tc := range []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
		end  func(cancel context.CancelFunc)
		want error
	}{
		{"deadline", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), time.Second) // room for the echo on a loaded machine
		}, func(context.CancelFunc) {}, context.DeadlineExceeded},
		{"cancelled", func() (context.Context, context.CancelFunc) { return context.WithCancel(context.Background()) },
			func(cancel context.CancelFunc) { cancel() }, context.Canceled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := tc.ctx()
			defer cancel()
			st, err := conn.OpenStream(ctx, NewRequest(codeStreamEcho, nil, nil))
			must(t, err)
			defer st.Close()
			must(t, st.Send([]byte("a")))
			if _, err := st.Recv(); err != nil {
				t.Fatal(err) // the echo: the processor runs
			}
			tc.end(cancel)
			if err := waitFor(t, ended, "the processor's end"); err != tc.want {
				t.Fatalf("the processor's context ended with %v, want %v", err, tc.want)
			}
		})
	}
}

// TestStreamAcceptorCloseWithError: CloseWithError on the acceptor's side ends the
// stream there: a Send waiting for credit the opener does not grant returns the error,
// the processor's context ends, and the processor's response ends the opener's side.
func TestStreamAcceptorCloseWithError(t *testing.T) {
	why := errors.New("the acceptor's own reason")
	closeIt := make(chan struct{})
	t.Cleanup(func() { closeOnce(closeIt) })
	type outcome struct{ send, ctx error }
	ended := make(chan outcome, 1)
	_, addr := startServer(t, ServerOptions{}, func(s *Server) {
		must(t, s.RegisterProcessor(codeStreamIdle, ProcessorFunc(func(ctx context.Context, conn *Conn, req *Command) (*Command, error) {
			st := conn.InboundStream(req)
			stopped := make(chan struct{})
			defer close(stopped)
			go func() {
				select {
				case <-closeIt:
					st.CloseWithError(why)
				case <-stopped:
				}
			}()
			for {
				if err := st.Send([]byte("x")); err != nil {
					ended <- outcome{err, ctx.Err()}
					return nil, err
				}
			}
		}), PoolOptions{}))
	})
	cl := newTestClient(t, ClientOptions{ConnOptions: ConnOptions{StreamWindow: 2}})
	conn, err := cl.Conn(context.Background(), addr)
	must(t, err)
	st, err := conn.OpenStream(context.Background(), NewRequest(codeStreamIdle, nil, nil))
	must(t, err)
	defer st.Close()
	<-st.Ready()
	closeOnce(closeIt) // the processor waits for credit: the opener takes nothing
	o := waitFor(t, ended, "the processor's end")
	if !errors.Is(o.send, why) || o.ctx == nil {
		t.Fatalf("Send: %v, context: %v; want the error given and an ended context", o.send, o.ctx)
	}
	for {
		if _, err := st.Recv(); err != nil {
			break
		}
	}
	if resp := st.Response(); resp == nil || !strings.Contains(resp.Remark, why.Error()) {
		t.Fatalf("the opener's stream ended with %v (%v), want the processor's response", resp, st.Err())
	}
}

func waitUntil(t testing.TB, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out waiting for a condition")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestStreamOwnerLimit: MaxStreams bounds the streams open on all of a server's
// connections together; one beyond is refused SYSTEM_BUSY before any frame of it, and
// room comes back as streams end. The opener's side counts its own the same way.
func TestStreamOwnerLimit(t *testing.T) {
	srv, addr, ended := startStreamServer(t, ServerOptions{ConnOptions: ConnOptions{MaxStreams: 3}})
	var conns []*Conn
	for range 2 {
		cl := newTestClient(t, ClientOptions{})
		conn, err := cl.Conn(context.Background(), addr)
		must(t, err)
		conns = append(conns, conn)
	}
	open := func(conn *Conn) *Stream {
		st, err := conn.OpenStream(context.Background(), NewRequest(codeStreamEcho, nil, nil))
		must(t, err)
		<-st.Ready()
		return st
	}
	var running []*Stream
	for _, conn := range []*Conn{conns[0], conns[0], conns[1]} {
		st := open(conn)
		if !st.Accepted() {
			t.Fatalf("stream %d of 3 refused: %v", len(running)+1, st.Response())
		}
		running = append(running, st)
	}
	refused := open(conns[1])
	resp := refused.Response()
	if refused.Accepted() || resp == nil || resp.Code != CodeSystemBusy || !strings.Contains(resp.Remark, "MaxStreams") {
		t.Fatalf("a fourth stream on the server: accepted %v, response %v", refused.Accepted(), resp)
	}
	running[0].Close()
	waitFor(t, ended, "the closed stream's processor")
	// The processor reports before it returns; its stream counts against the
	// server's limit until then.
	waitUntil(t, func() bool { return conns[0].OpenStreams() == 1 && srv.disp.streamsOpen.Load() == 2 })
	again := open(conns[1])
	if !again.Accepted() {
		t.Fatalf("a stream once one ended: %v", again.Response())
	}
	again.Close()
	for _, st := range running[1:] {
		st.Close()
	}

	// The opener's side: two servers, one client allowed two streams in all.
	_, addr2, _ := startStreamServer(t, ServerOptions{})
	cl := newTestClient(t, ClientOptions{ConnOptions: ConnOptions{MaxStreams: 2}})
	var mine []*Stream
	for _, a := range []string{addr, addr2} {
		conn, err := cl.Conn(context.Background(), a)
		must(t, err)
		st, err := conn.OpenStream(context.Background(), NewRequest(codeStreamEcho, nil, nil))
		must(t, err)
		mine = append(mine, st)
	}
	conn, err := cl.Conn(context.Background(), addr2)
	must(t, err)
	if _, err := conn.OpenStream(context.Background(), NewRequest(codeStreamEcho, nil, nil)); !errors.Is(err, ErrTooManyRequests) || !strings.Contains(err.Error(), "MaxStreams") {
		t.Fatalf("a third stream from the client: %v", err)
	}
	mine[0].Close()
	st, err := conn.OpenStream(context.Background(), NewRequest(codeStreamEcho, nil, nil))
	must(t, err)
	st.Close()
	mine[1].Close()
}

// TestStreamMemoryBound: messages that no consumer takes hold at most MaxStreamMemory,
// on the acceptor's side and on the opener's: the connection's reader stops reading,
// the producers wait, and all flows once the consumers take their messages. Every byte
// is given back in the end.
func TestStreamMemoryBound(t *testing.T) {
	const (
		budget  = 64 << 10
		streams = 4
		msgs    = 64
		size    = 4 << 10
	)
	gate := make(chan struct{})
	open := sync.OnceFunc(func() { close(gate) })
	var acceptorWaits, openerWaits atomic.Int32
	// A processor that takes nothing until the gate opens, then takes everything and
	// sends as much back.
	hold := ProcessorFunc(func(ctx context.Context, conn *Conn, req *Command) (*Command, error) {
		st := conn.InboundStream(req)
		<-gate
		n := 0
		for {
			body, err := st.Recv()
			if err == io.EOF {
				break
			}
			if err != nil {
				return nil, err
			}
			n++
			if err := st.Send(body); err != nil {
				return nil, err
			}
		}
		return NewResponse(req, CodeSuccess, strconv.Itoa(n)), nil
	})
	s, addr := startServer(t, ServerOptions{ConnOptions: ConnOptions{MaxStreamMemory: budget}}, func(s *Server) {
		must(t, s.RegisterProcessor(codeStreamEcho, hold, PoolOptions{}))
		s.cfg.streamMemWaits = func(*Conn) { acceptorWaits.Add(1) }
	})
	cl := newTestClient(t, ClientOptions{ConnOptions: ConnOptions{MaxStreamMemory: budget}})
	cl.cfg.streamMemWaits = func(*Conn) { openerWaits.Add(1) }
	t.Cleanup(open) // before the server's Close: a failure must not leave it waiting for the processors
	conn, err := cl.Conn(context.Background(), addr)
	must(t, err)
	body := bytes.Repeat([]byte{'m'}, size)
	var sts []*Stream
	var wg sync.WaitGroup
	for range streams {
		st, err := conn.OpenStream(context.Background(), NewRequest(codeStreamEcho, nil, nil))
		must(t, err)
		sts = append(sts, st)
		wg.Go(func() {
			for range msgs {
				if st.Send(body) != nil {
					return
				}
			}
			st.CloseSend()
		})
	}
	// The producers have credit for every message (a window of 64 each): only the
	// budget stops the acceptor from holding them all, by stopping its reader.
	waitUntil(t, func() bool { return acceptorWaits.Load() > 0 })
	// Messages sent in a row travel in frames of several, and a frame that does not fit
	// waits whole.
	perFrame := streamBatch / (size + msgLenSize)
	frame := streamCharge(perFrame*(size+msgLenSize)) + int64(perFrame-1)*streamSlot
	if used, max := s.cfg.streams.mem.used.Load(), int64(budget); used > max || used < max-frame {
		t.Fatalf("the acceptor holds %d bytes of messages, want the budget of %d less at most a frame's %d", used, max, frame)
	}
	// The acceptor's processors echo everything; the opener takes nothing yet.
	open()
	waitUntil(t, func() bool { return openerWaits.Load() > 0 })
	if used := cl.cfg.streams.mem.used.Load(); used > budget {
		t.Fatalf("the opener holds %d bytes of messages, more than the budget of %d", used, budget)
	}
	var got sync.WaitGroup
	for _, st := range sts {
		got.Go(func() {
			n := 0
			for {
				if _, err := st.Recv(); err != nil {
					if err != io.EOF || n != msgs || st.Response().Remark != strconv.Itoa(msgs) {
						t.Errorf("stream %d: %d messages back, then %v, %v", st.ID(), n, err, st.Response())
					}
					return
				}
				n++
			}
		})
	}
	got.Wait()
	wg.Wait()
	for _, st := range sts {
		st.Close()
	}
	waitUntil(t, func() bool { return s.cfg.streams.mem.used.Load() == 0 && cl.cfg.streams.mem.used.Load() == 0 })
}
