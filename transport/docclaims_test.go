package transport

import (
	"context"
	"errors"
	"net"
	"os"
	"sync/atomic"
	"testing"
	"time"
)

// TestNonReadingPeerHasLittleAnsweredWithDefaults: docs/OPERATIONS.md: with the defaults
// a peer that reads nothing and pipelines its requests gets at most its MaxConnInflight
// requests answered, and some 128 KiB more, for it.
func TestNonReadingPeerHasLittleAnsweredWithDefaults(t *testing.T) {
	if !boundsUnsent {
		t.Skip("this system's sockets do not bound their unsent bytes")
	}
	const answer = 1 << 10
	var answered atomic.Int64
	big := bigAnswer(answer)
	_, addr := startServer(t, ServerOptions{}, func(s *Server) {
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
	time.Sleep(200 * time.Millisecond)
	// With the same slack the test with MaxConnInflight 16 allows.
	bound := int64(2*DefaultMaxUnreadOutput + 96<<10 + DefaultMaxConnInflight*(answer+64))
	if got := answered.Load() * (answer + 29); got > bound {
		t.Errorf("%d answers (%d KiB) computed for a peer that never reads, with the defaults (bound %d KiB)", answered.Load(), got>>10, bound>>10)
	}
}

// TestPausedReaderNoticeForUnreadRequestEndsIt: docs/OPERATIONS.md says of a reader
// paused at its requests in flight that cancel notices in its buffer end the requests
// they name, and "a notice for a request still unread there is applied when that
// request is read, so it ends too". Here reading that request fills the share again.
func TestPausedReaderNoticeForUnreadRequestEndsIt(t *testing.T) {
	_, nc, started, ended := pausedServer(t, 1, SerializeRocketMQ, nil, nil)
	// Request 5 is unread in the buffer; the notices for 1 and 5 come behind it.
	_, err := nc.Write(append(cancelFrame(t, 101, 1, SerializeRocketMQ), cancelFrame(t, 105, 5, SerializeRocketMQ)...))
	must(t, err)
	if id := waitFor(t, ended, "request 1's context to end"); id != 1 {
		t.Fatalf("request %d ended, want 1", id)
	}
	if id := waitFor(t, started, "request 5 to start once 1 is answered"); id != 5 {
		t.Fatalf("request %d started, want 5", id)
	}
	select {
	case id := <-ended:
		if id != 5 {
			t.Fatalf("request %d ended, want 5", id)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("request 5 was read and runs 2 s later: the cancel notice for it, read ahead while it was unread, was not applied")
	}
}
