package transport

import (
	"bytes"
	"context"
	"io"
	"net"
	"testing"
	"time"
)

// TestDirectWriteLeavesTheRestToTheWriter: a response written by the goroutine that
// made it, larger than the socket takes at once, is written whole by the writer
// goroutine once the peer reads, before the response queued after it.
func TestDirectWriteLeavesTheRestToTheWriter(t *testing.T) {
	_, addr := startServer(t, ServerOptions{ConnOptions: ConnOptions{MaxFrameSize: 16 << 20}}, func(s *Server) {
		must(t, s.RegisterProcessor(codeEcho, echo, PoolOptions{}))
	})
	nc := rawDial(t, addr)
	nc.(*net.TCPConn).SetReadBuffer(256 << 10)                 // the server's writes stop short
	big := bytes.Repeat([]byte("0123456789abcdef"), 12<<20/16) // more than a socket buffer
	send := func(opaque int32, body []byte) {
		frame, err := AppendFrame(nil, &Command{Code: codeEcho, Opaque: opaque, Body: body}, SerializeJSON)
		must(t, err)
		if _, err := nc.Write(frame); err != nil {
			t.Fatal(err)
		}
	}
	send(1, big)
	// The big answer has started, and stopped short, when the small request comes.
	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	var length [4]byte
	if _, err := io.ReadFull(nc, length[:]); err != nil {
		t.Fatal(err)
	}
	send(2, []byte("small"))
	rest := make([]byte, beUint32(length[:]))
	if _, err := io.ReadFull(nc, rest); err != nil {
		t.Fatal(err)
	}
	first, _, err := ParseFrame(append(length[:], rest...), 0)
	must(t, err)
	second := readRawFrame(t, nc)
	for i, tc := range []struct {
		resp *Command
		want []byte
	}{{first, big}, {second, []byte("small")}} {
		if tc.resp.Opaque != int32(i+1) || !bytes.Equal(tc.resp.Body, tc.want) {
			t.Errorf("response %d: opaque %d with %d bytes, want opaque %d with %d bytes as sent", i, tc.resp.Opaque, len(tc.resp.Body), i+1, len(tc.want))
		}
	}
}

// TestDirectWriteOnlyOnSockets: a connection that is not a plain socket (TLS, a pipe,
// a wrapper) is written by its writer goroutine alone.
func TestDirectWriteOnlyOnSockets(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	var d directWriter
	d.init(a)
	if d.rc != nil {
		t.Error("a pipe was taken for a socket")
	}
}

// TestDrainWhileASenderWrites: a drain that comes while a sender holds the socket is
// carried out once the sender lets go of it, not when the flush's limit passes.
func TestDrainWhileASenderWrites(t *testing.T) {
	_, addr := startServer(t, ServerOptions{}, func(s *Server) {
		must(t, s.RegisterProcessor(codeEcho, echo, PoolOptions{}))
	})
	cl := newTestClient(t, ClientOptions{})
	c, err := cl.Conn(context.Background(), addr)
	must(t, err)
	const limit = 10 * time.Second
	flushed := make(chan error, 1)
	var begin time.Time
	write, held := c.w.direct.fn, false
	c.w.direct.fn = func(fd uintptr) bool {
		if !held {
			held = true
			begin = time.Now()
			go func() { flushed <- flushAndClose(context.Background(), []*Conn{c}, ErrClosed, limit) }()
			waitUntil(t, func() bool { // the loop woke for the drain and found the socket held
				c.w.mu.Lock()
				defer c.w.mu.Unlock()
				return c.w.missed
			})
		}
		return write(fd)
	}
	c.InvokeSync(context.Background(), NewRequest(codeEcho, nil, []byte("x"))) // answered or cut by the drain
	if !held {
		t.Fatal("the call was not written by its caller")
	}
	if err := waitFor(t, flushed, "the flush"); err != nil {
		t.Fatalf("flushing a connection with nothing queued: %v", err)
	}
	if took := time.Since(begin); took > limit/2 {
		t.Errorf("the flush took %v", took)
	}
}
