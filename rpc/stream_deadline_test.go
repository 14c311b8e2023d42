package rpc

import (
	"context"
	"errors"
	"testing"
	"time"
)

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
			p := wireDial(t, addr)
			start := time.Now()
			p.send(wireFrame(1, wireHeader(0, 1, 4, HeaderInterface, feedDesc.Name, HeaderMethod, tc.method,
				headerTimeout, "300", "ringrpc.window", tc.window), []byte(tc.body)))
			resp := p.response(1)
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
