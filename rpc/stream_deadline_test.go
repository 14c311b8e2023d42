package rpc

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/ringrpc/ringrpc/transport"
)

// Raw frames written per docs/PROTOCOL.md §9, on a plain TCP connection: an opener
// that does what a ringrpc client never does.

func rawStreamDial(t *testing.T, addr string) net.Conn {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return nc
}

func rawStreamWrite(t *testing.T, nc net.Conn, cmd *transport.Command) {
	t.Helper()
	b, err := transport.AppendFrame(nil, cmd, transport.SerializeRocketMQ)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := nc.Write(b); err != nil {
		t.Fatal(err)
	}
}

// rawStreamRead reads one frame, waiting at most d.
func rawStreamRead(nc net.Conn, d time.Duration) (*transport.Command, error) {
	nc.SetReadDeadline(time.Now().Add(d))
	var pre [4]byte
	if _, err := io.ReadFull(nc, pre[:]); err != nil {
		return nil, err
	}
	rest := make([]byte, binary.BigEndian.Uint32(pre[:]))
	if _, err := io.ReadFull(nc, rest); err != nil {
		return nil, err
	}
	c, _, err := transport.ParseFrame(append(pre[:], rest...), 0)
	return c, err
}

// rawStreamOpen writes the opening request of feedDesc's method with opaque id, the
// window given and a deadline of timeoutMs.
func rawStreamOpen(t *testing.T, nc net.Conn, id int32, method, window, timeoutMs, body string) {
	t.Helper()
	fs := transport.Fields{{Key: HeaderInterface, Value: feedDesc.Name}, {Key: HeaderMethod, Value: method},
		{Key: headerTimeout, Value: timeoutMs}, {Key: "ringrpc.window", Value: window}}
	req := transport.NewRequest(0, fs, []byte(body))
	req.Opaque, req.Flag = id, 0x4
	rawStreamWrite(t, nc, req)
}

// rawStreamResponse reads frames until the response to the opening request id.
func rawStreamResponse(t *testing.T, nc net.Conn, id int32) *transport.Command {
	t.Helper()
	for {
		c, err := rawStreamRead(nc, 5*time.Second)
		if err != nil {
			t.Fatalf("waiting for the response to stream %d: %v", id, err)
		}
		if c.IsResponse() && c.Opaque == id {
			return c
		}
	}
}

// A stream's deadline (ringrpc.timeout) ends the provider's handler even when it waits
// in the transport: in Send for credit its opener never grants, or in Recv for
// messages its opener never sends. The handler's context, its Send and its range say
// the deadline passed, and the opener's response is deadline_exceeded.
func TestStreamDeadlineEndsWaitingHandler(t *testing.T) {
	for _, tc := range []struct {
		name, method, window, body string
	}{
		{"server stream waiting for credit", "Watch", "1", `["forever",0]`},
		{"client stream waiting for messages", "Upload", "16", `[]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, f, addr := startFeed(t, ServerOptions{})
			nc := rawStreamDial(t, addr)
			start := time.Now()
			rawStreamOpen(t, nc, 1, tc.method, tc.window, "300", tc.body)
			resp := rawStreamResponse(t, nc, 1)
			took := time.Since(start)
			if err := waitFor(t, f.ended, "the handler's end"); !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("the handler's context: %v, want context.DeadlineExceeded", err)
			}
			if want := toWire(CodeDeadlineExceeded); resp.Code != want {
				t.Errorf("response %d %q, want %d (deadline_exceeded)", resp.Code, resp.Remark, want)
			}
			if took < 300*time.Millisecond || took > 3*time.Second {
				t.Errorf("answered after %v, want soon after the 300 ms deadline", took)
			}
			t.Logf("answered after %v: %d %q", took.Round(time.Millisecond), resp.Code, resp.Remark)
		})
	}
}
