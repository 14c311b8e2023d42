package rpc

import (
	"context"
	"iter"
	"strings"
	"testing"
)

// panicUpload's Upload reads its messages and then panics.
type panicUpload struct{ feed }

func (p *panicUpload) Upload(ctx context.Context, chunks iter.Seq[string]) (int, error) {
	for range chunks {
	}
	panic("after the messages")
}

// TestStreamBadMessageThenPanicIsBadArguments: a message that does not decode fails
// the call with bad_arguments whatever the handler makes of it, a panic included, as
// Received documents.
func TestStreamBadMessageThenPanicIsBadArguments(t *testing.T) {
	var opts ServerOptions
	opts.Logger, opts.Transport.Logger = quiet, quiet
	s := NewServer(opts)
	if err := registerFeed(s, &panicUpload{feed{ended: make(chan error, 4)}}); err != nil {
		t.Fatal(err)
	}
	addr := serve(t, s.Serve, s.Close)
	p := openWireStream(t, addr, "Upload", `[]`, 4096)
	p.send(wireUp([]byte(`1`), "ringrpc.seq", "1", "ringrpc.flags", "1"))
	resp := p.next()
	for resp.Flag&1 == 0 {
		resp = p.next()
	}
	if resp.Code != 703 || !strings.Contains(resp.Remark, "message 1 of stream") {
		t.Fatalf("response %d %q, want 703 naming the message that did not decode", resp.Code, resp.Remark)
	}
}
