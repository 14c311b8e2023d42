package transport

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
)

// countingServer counts the requests with codeEcho that reach it, oneway or not, and
// answers those that want an answer.
func countingServer(t *testing.T, opts ServerOptions) (*Server, string, chan *Command) {
	got := make(chan *Command, 1000)
	s, addr := startServer(t, opts, func(s *Server) {
		must(t, s.RegisterProcessor(codeEcho, ProcessorFunc(func(_ context.Context, _ *Conn, req *Command) (*Command, error) {
			got <- req
			return NewResponse(req, CodeSuccess, ""), nil
		}), PoolOptions{}))
	})
	return s, addr, got
}

// closedAddr returns an address where nothing listens.
func closedAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// A nil callback is valid on every path, a failed dial included, and leaks no permit.
func TestNilCallback(t *testing.T) {
	_, addr, _ := countingServer(t, ServerOptions{})
	dead := closedAddr(t)
	cl := newTestClient(t, ClientOptions{ConnOptions: ConnOptions{AsyncPermits: 1}})
	for range 3 {
		cl.InvokeAsync(context.Background(), dead, NewRequest(codeEcho, nil, nil), nil)
	}
	for i := range 3 {
		done := make(chan error, 1)
		cl.InvokeAsync(context.Background(), addr, NewRequest(codeEcho, nil, nil), func(_ *Command, err error) { done <- err })
		if err := waitFor(t, done, "async call"); err != nil {
			t.Fatalf("async call %d after nil callbacks: %v (a leaked permit gives too many requests)", i, err)
		}
		cl.InvokeAsync(context.Background(), addr, NewRequest(codeEcho, nil, nil), nil)
	}
}

// A request larger than the frame limit is refused, leaving nothing of it queued.
func TestTooLargeRequestLeavesNothingQueued(t *testing.T) {
	_, addr, got := countingServer(t, ServerOptions{})
	cl := newTestClient(t, ClientOptions{ConnOptions: ConnOptions{MaxFrameSize: 256}})
	ctx := context.Background()
	big := NewRequest(codeEcho, nil, make([]byte, 300))
	small := NewRequest(codeEcho, nil, []byte("small"))
	calls := []struct {
		name string
		call func(*Command) error
	}{
		{"sync", func(req *Command) error { _, err := cl.InvokeSync(ctx, addr, req); return err }},
		{"oneway", func(req *Command) error { return cl.InvokeOneway(ctx, addr, req) }},
		{"async", func(req *Command) error {
			done := make(chan error, 1)
			cl.InvokeAsync(ctx, addr, req, func(_ *Command, err error) { done <- err })
			return waitFor(t, done, "async call")
		}},
	}
	for _, tc := range calls {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.call(big); !errors.Is(err, ErrFrameTooLarge) || !strings.Contains(err.Error(), "MaxFrameSize") {
				t.Fatalf("too large: %v, want ErrFrameTooLarge naming the option", err)
			}
			must(t, tc.call(small))
			if r := waitFor(t, got, "the small request"); string(r.Body) != "small" {
				t.Fatalf("the server got %q after a refused request", r.Body)
			}
		})
	}
}
