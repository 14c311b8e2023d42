package rpc

import (
	"context"
	"log/slog"
	"slices"
	"sync/atomic"
)

// SetFallbackLogger sends the lines of a server built without ServerOptions.Logger,
// and of its connections when ServerOptions.Transport has no Logger either, to l
// instead of slog.Default(). A registry given the server calls it with its own
// Options.Logger, so that one logger gets every line. It may be called at any time;
// it does nothing for a server given a Logger.
func (s *Server) SetFallbackLogger(l *slog.Logger) {
	if s.fallback != nil && l != nil {
		s.fallback.Store(l)
	}
}

// fallbackHandler is the handler of a server built without a Logger: the handler of
// the logger SetFallbackLogger gave, else slog.Default()'s, looked up at each line.
type fallbackHandler struct {
	to  *atomic.Pointer[slog.Logger]
	ops []func(slog.Handler) slog.Handler // WithAttrs and WithGroup, in order
}

func (h *fallbackHandler) target() slog.Handler {
	if l := h.to.Load(); l != nil {
		return l.Handler()
	}
	return slog.Default().Handler()
}

func (h *fallbackHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.target().Enabled(ctx, level)
}

func (h *fallbackHandler) Handle(ctx context.Context, r slog.Record) error {
	t := h.target()
	for _, op := range h.ops {
		t = op(t)
	}
	return t.Handle(ctx, r)
}

func (h *fallbackHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return h.with(func(t slog.Handler) slog.Handler { return t.WithAttrs(attrs) })
}

func (h *fallbackHandler) WithGroup(name string) slog.Handler {
	return h.with(func(t slog.Handler) slog.Handler { return t.WithGroup(name) })
}

func (h *fallbackHandler) with(op func(slog.Handler) slog.Handler) slog.Handler {
	return &fallbackHandler{to: h.to, ops: append(slices.Clip(h.ops), op)}
}
