package rpc

import (
	"context"
	"iter"
	"testing"
)

// waitingFeed's Watch sends nothing and returns, without an error, once its context ends.
type waitingFeed struct{ Feed }

func (waitingFeed) Watch(ctx context.Context, topic string, n int) iter.Seq2[int, error] {
	return func(yield func(int, error) bool) { <-ctx.Done() }
}

// TestStreamDeadlineAnswersDeadlineExceeded: docs/PROTOCOL.md §9.4, "The deadline": once
// the opening request's ringrpc.timeout passes, the acceptor's response is
// deadline_exceeded (704), whatever the handler returned. The opener, written from the
// document, does not reset the stream; the handler returns nil when its context ends.
func TestStreamDeadlineAnswersDeadlineExceeded(t *testing.T) {
	opts := ServerOptions{Logger: quiet}
	opts.Transport.Logger = quiet
	s := NewServer(opts)
	if err := registerFeed(s, waitingFeed{}); err != nil {
		t.Fatal(err)
	}
	addr := serve(t, s.Serve, s.Close)
	for i := range 20 {
		p := wireDial(t, addr)
		p.send(wireFrame(1, wireHeader(0, 7, 4, "interfaceName", feedDesc.Name, "methodName", "Watch",
			"ringrpc.timeout", "200", "ringrpc.window", "8"), []byte(`["x",0]`)))
		if g := p.next(); g.Code != 7704 {
			t.Fatalf("first frame %v, want the provider's grant", g)
		}
		if r := p.response(7); r.Code != 704 {
			t.Fatalf("round %d: a stream whose deadline passed was answered %v, want code 704 (deadline_exceeded)", i, r)
		}
	}
}
