package transport

import (
	"context"
	"errors"
	"io"
	"strconv"
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
	_, addr, _ := startStreamServer(t, ServerOptions{ConnOptions: ConnOptions{MaxConnStreams: 1}})
	cl := newTestClient(t, ClientOptions{ConnOptions: ConnOptions{MaxConnStreams: 2}})
	conn, err := cl.Conn(context.Background(), addr)
	must(t, err)
	first, err := conn.OpenStream(context.Background(), NewRequest(codeStreamEcho, nil, nil))
	must(t, err)
	<-first.Ready()
	second, err := conn.OpenStream(context.Background(), NewRequest(codeStreamEcho, nil, nil))
	must(t, err)
	<-second.Ready()
	if second.Accepted() || second.Response() == nil || second.Response().Code != CodeSystemBusy {
		t.Fatalf("a stream beyond the acceptor's limit: accepted %v, response %v", second.Accepted(), second.Response())
	}
	third, err := conn.OpenStream(context.Background(), NewRequest(codeStreamEcho, nil, nil))
	must(t, err)
	defer third.Close()
	if _, err := conn.OpenStream(context.Background(), NewRequest(codeStreamEcho, nil, nil)); !errors.Is(err, ErrTooManyRequests) {
		t.Fatalf("a stream beyond the opener's limit: %v", err)
	}
	first.Close()
}

// TestStreamProtocolViolation: a message beyond the credit, or out of order, ends the
// acceptor's side of that stream only.
func TestStreamProtocolViolation(t *testing.T) {
	for _, tc := range []struct {
		name string
		seqs []int
	}{
		{"out of order", []int{1, 3}},
		{"beyond the credit", []int{1, 2, 3, 4, 5}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, addr, ended := startStreamServer(t, ServerOptions{ConnOptions: ConnOptions{StreamWindow: 4}})
			nc := rawDial(t, addr)
			open := NewRequest(codeStreamEcho, Fields{{fieldStreamWindow, "100"}}, nil)
			open.Opaque, open.Flag = 1, flagStream
			b, _ := AppendFrame(nil, open, SerializeRocketMQ)
			if _, err := nc.Write(b); err != nil {
				t.Fatal(err)
			}
			if credit := readRawFrame(t, nc); credit.Code != codeStreamDown || credit.ExtFields.Get(fieldStreamCredit) != "4" {
				t.Fatalf("first frame %v, want the grant of the window", credit)
			}
			for i, seq := range tc.seqs {
				f := NewRequest(codeStreamUp, Fields{{fieldStreamID, "1"}, {fieldStreamSeq, strconv.Itoa(seq)}}, []byte("m"))
				f.Opaque, f.Flag = int32(10+i), FlagOneway
				b, _ = AppendFrame(b[:0], f, SerializeRocketMQ)
				if _, err := nc.Write(b); err != nil {
					t.Fatal(err)
				}
			}
			if err := waitFor(t, ended, "the processor's end"); err == nil {
				t.Fatal("the processor's context did not end")
			}
		})
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
