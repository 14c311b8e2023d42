package rpc

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

// A server without a Logger logs through the one SetFallbackLogger gives, even from
// loggers derived before it was given, with their attributes and groups in order.
func TestFallbackLogger(t *testing.T) {
	s := NewServer(ServerOptions{})
	derived := s.log.With("a", 1).WithGroup("g").With("b", 2)
	var buf bytes.Buffer
	s.SetFallbackLogger(slog.New(slog.NewTextHandler(&buf, nil)))
	derived.Info("hello", "c", 3)
	s.log.Debug("not enabled at the target's level")
	if got, want := strings.TrimSpace(buf.String()), `level=INFO msg=hello a=1 g.b=2 g.c=3`; !strings.HasSuffix(got, want) {
		t.Fatalf("logged %q, want it to end with %q", got, want)
	}
	// A server given a Logger keeps it.
	var own bytes.Buffer
	s = NewServer(ServerOptions{Logger: slog.New(slog.NewTextHandler(&own, nil))})
	s.SetFallbackLogger(slog.New(slog.NewTextHandler(&buf, nil)))
	s.log.Info("mine")
	if !strings.Contains(own.String(), "msg=mine") {
		t.Fatalf("the server's own logger got %q", own.String())
	}
}
