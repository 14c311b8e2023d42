package gentest

import (
	"context"
	"errors"
	"iter"
	"net"
	"testing"
	"time"

	"github.com/ringrpc/ringrpc/rpc"
	"github.com/ringrpc/ringrpc/transport"
)

type feedImpl struct{ ended chan error }

func (f feedImpl) Watch(ctx context.Context, topic string, n int) iter.Seq2[Event, error] {
	return func(yield func(Event, error) bool) {
		defer func() { f.ended <- ctx.Err() }()
		rpc.SetReplyMetadata(ctx, "served", "Watch")
		for i := 1; n < 0 || i <= n; i++ {
			if !yield(Event{Topic: topic, Seq: i}, nil) {
				return
			}
		}
		if topic == "bad" {
			yield(Event{}, rpc.NewError(rpc.CodeNotFound, "no topic bad"))
		}
	}
}

func (f feedImpl) Upload(ctx context.Context, chunks iter.Seq[Chunk]) (Summary, error) {
	rpc.SetReplyMetadata(ctx, "served", "Upload")
	var s Summary
	for c := range chunks {
		s.Chunks++
		s.Bytes += len(c.Data)
	}
	return s, nil
}

func (f feedImpl) Chat(ctx context.Context, in iter.Seq[string]) iter.Seq2[string, error] {
	return func(yield func(string, error) bool) {
		rpc.SetReplyMetadata(ctx, "served", "Chat")
		for m := range in {
			if !yield("re:"+m, nil) {
				return
			}
		}
	}
}

func serveFeed(t *testing.T) (string, feedImpl) {
	t.Helper()
	s := rpc.NewServer(rpc.ServerOptions{Logger: quiet, Transport: transport.ServerOptions{ConnOptions: transport.ConnOptions{Logger: quiet}}})
	f := feedImpl{ended: make(chan error, 10)}
	if err := RegisterFeedServer(s, f); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(ln)
	t.Cleanup(func() { s.Close() })
	return ln.Addr().String(), f
}

// TestGeneratedStreams calls each generated stream shape over TCP.
func TestGeneratedStreams(t *testing.T) {
	addr, f := serveFeed(t)
	feed := NewFeedClient(client(t, addr))
	ctx := context.Background()

	n := 0
	for ev, err := range feed.Watch(ctx, "news", 100) {
		if err != nil || ev.Topic != "news" || ev.Seq != n+1 {
			t.Fatalf("Watch message %d: %+v %v", n+1, ev, err)
		}
		n++
	}
	if n != 100 {
		t.Fatalf("Watch: %d messages, want 100", n)
	}
	<-f.ended

	var last error
	for _, err := range feed.Watch(ctx, "bad", 2) {
		last = err
	}
	if rpc.CodeOf(last) != rpc.CodeNotFound {
		t.Fatalf("Watch's error: %v", last)
	}
	<-f.ended

	for range feed.Watch(ctx, "forever", -1) {
		break
	}
	if err := <-f.ended; !errors.Is(err, context.Canceled) {
		t.Fatalf("after a break, the provider's context: %v", err)
	}

	chunks := func(yield func(Chunk) bool) {
		for range 10 {
			if !yield(Chunk{Data: []byte("abcd")}) {
				return
			}
		}
	}
	if s, err := feed.Upload(ctx, chunks); err != nil || s != (Summary{Chunks: 10, Bytes: 40}) {
		t.Fatalf("Upload: %+v %v", s, err)
	}

	in := func(yield func(string) bool) {
		for _, m := range []string{"a", "b", "c"} {
			if !yield(m) {
				return
			}
		}
	}
	var got []string
	for m, err := range feed.Chat(ctx, in) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, m)
	}
	if len(got) != 3 || got[2] != "re:c" {
		t.Fatalf("Chat: %v", got)
	}
}

// TestStreamReplyMetadata: the metadata a provider sets in a stream's handler reaches
// the caller's WithReplyMetadata, on every shape of stream, with the response that
// ends it.
func TestStreamReplyMetadata(t *testing.T) {
	addr, f := serveFeed(t)
	feed := NewFeedClient(client(t, addr))
	one := func(yield func(string) bool) { yield("a") }
	for _, tc := range []struct {
		method string
		call   func(ctx context.Context) error
	}{
		{"Watch", func(ctx context.Context) error {
			for _, err := range feed.Watch(ctx, "news", 2) {
				if err != nil {
					return err
				}
			}
			<-f.ended
			return nil
		}},
		{"Upload", func(ctx context.Context) error {
			_, err := feed.Upload(ctx, func(yield func(Chunk) bool) { yield(Chunk{}) })
			return err
		}},
		{"Chat", func(ctx context.Context) error {
			for _, err := range feed.Chat(ctx, one) {
				if err != nil {
					return err
				}
			}
			return nil
		}},
	} {
		t.Run(tc.method, func(t *testing.T) {
			var reply rpc.Metadata
			if err := tc.call(rpc.WithReplyMetadata(context.Background(), &reply)); err != nil {
				t.Fatal(err)
			}
			if reply["served"] != tc.method {
				t.Fatalf("reply metadata %v, want served=%s", reply, tc.method)
			}
		})
	}
}

// TestStreamStopsAtCancel: a caller that cancels its context while ranging gets the
// cancellation next, not the messages that had arrived meanwhile.
func TestStreamStopsAtCancel(t *testing.T) {
	for _, tc := range []struct {
		name    string
		attempt []rpc.Interceptor
	}{
		{"the stream's context is the caller's", nil},
		// The stream's own context never ends: the caller's end must end it.
		{"an attempt interceptor opens it on a context of its own", []rpc.Interceptor{ownContext}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr, f := serveFeed(t)
			feed := NewFeedClient(client(t, addr, tc.attempt...))
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			n, after := 0, 0
			var last error
			for _, err := range feed.Watch(ctx, "forever", -1) {
				if err != nil {
					last = err
					break
				}
				if n++; n == 100 { // the window's messages wait by now
					cancel()
				} else if n > 100 {
					after++
				}
			}
			if after != 0 || rpc.CodeOf(last) != rpc.CodeCanceled {
				t.Fatalf("after the cancel: %d messages, then %v; want none, then canceled", after, last)
			}
			select {
			case <-f.ended:
			case <-time.After(10 * time.Second):
				t.Fatal("the provider's side of the stream did not end within 10 s of the cancel")
			}
		})
	}
}

// ownContext is an attempt interceptor that opens the stream on a context of its
// own, which the caller's cancellation does not end.
func ownContext(next rpc.Invoker) rpc.Invoker {
	return func(ctx context.Context, call *rpc.Call) error { return next(context.WithoutCancel(ctx), call) }
}

// TestInputCutByCancelIsNoWholeInput: an input that stops when the caller's context
// ends is not taken for a whole one, even when an attempt interceptor opened the
// stream on a context that does not end: the provider's result is not the caller's.
func TestInputCutByCancelIsNoWholeInput(t *testing.T) {
	addr, _ := serveFeed(t)
	c := client(t, addr, ownContext)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	in := func(yield func(Chunk) bool) {
		for range 3 {
			if !yield(Chunk{Data: []byte("x")}) {
				return
			}
		}
		cancel() // the input stops because its context ended
	}
	sum, err := NewFeedClient(c).Upload(ctx, in)
	if rpc.CodeOf(err) != rpc.CodeCanceled {
		t.Fatalf("an input cut short by the cancel: %+v, %v; want canceled", sum, err)
	}
}
