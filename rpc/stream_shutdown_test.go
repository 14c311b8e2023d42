package rpc

import (
	"context"
	"errors"
	"iter"
	"strings"
	"testing"
	"time"

	"github.com/ringrpc/ringrpc/transport"
)

// A Shutdown cut short while a stream is open says it cut the stream, though its
// handler, which honours its context, has returned by the time Shutdown does. The
// caller's range ends with the connection's loss.
func TestStreamShutdownCutShortCountsTheStream(t *testing.T) {
	s, f, addr := startFeed(t, ServerOptions{})
	fc, _ := newFeedClient(t, addr, ClientOptions{})
	next, stop := iter.Pull2(fc.Watch(context.Background(), "forever", 0))
	defer stop()
	if _, err, ok := next(); !ok || err != nil {
		t.Fatalf("first message: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	err := s.Shutdown(ctx)
	var se *transport.ShutdownError
	if !errors.As(err, &se) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown: %v, want a *transport.ShutdownError", err)
	}
	if se.Cut != 1 || se.Streams != 1 || !strings.Contains(err.Error(), "1 handler cut (1 serving a stream)") {
		t.Fatalf("a Shutdown that cut an open stream says: %v (%+v)", err, *se)
	}
	if err := waitFor(t, f.ended, "the handler's end"); err == nil {
		t.Error("the handler's context did not end")
	}
	var last error
	for {
		_, err, ok := next()
		if !ok {
			break
		}
		last = err
	}
	if code := CodeOf(last); code != CodeUnavailable && code != CodeClosed {
		t.Errorf("the caller's range ended with %v, want unavailable or closed", last)
	}
}
