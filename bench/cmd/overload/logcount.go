package main

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
)

// logCounter counts the provider's log records by message: thousands of closed
// connections make one line each, and what matters is how many of each.
type logCounter struct {
	mu sync.Mutex
	n  map[string]int
}

func (l *logCounter) Enabled(_ context.Context, lv slog.Level) bool { return lv >= slog.LevelWarn }
func (l *logCounter) WithAttrs([]slog.Attr) slog.Handler            { return l }
func (l *logCounter) WithGroup(string) slog.Handler                 { return l }

func (l *logCounter) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.n == nil {
		l.n = make(map[string]int)
	}
	l.n[r.Message]++
	return nil
}

// String returns the counts on one line, tab-free.
func (l *logCounter) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for msg, n := range l.n {
		out = append(out, fmt.Sprintf("%d× %q", n, msg))
	}
	sort.Strings(out)
	return strings.Join(out, "; ")
}
