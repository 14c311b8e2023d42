package transport

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestSemaphoreWaitsAndSaysWhy(t *testing.T) {
	s := newSemaphore(2)
	for i, want := range []bool{true, true, false} {
		if got := s.tryAcquire(); got != want {
			t.Fatalf("try %d of two permits: %v", i+1, got)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	err := s.acquire(ctx, time.Minute, nil, "Sync")
	if !errors.Is(err, ErrTooManyRequests) || !strings.Contains(err.Error(), "raise transport.ConnOptions.SyncPermits") {
		t.Fatalf("no permit before the deadline: %v", err)
	}
	got := make(chan error, 1)
	go func() { got <- s.acquire(context.Background(), time.Minute, nil, "Sync") }()
	s.release(1)
	if err := waitFor(t, got, "a permit after a release"); err != nil {
		t.Fatal(err)
	}
	closed := make(chan struct{})
	close(closed)
	if err := s.acquire(context.Background(), time.Minute, closed, "Sync"); !errors.Is(err, ErrConnectFailed) {
		t.Fatalf("closed while waiting: %v", err)
	}
	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	if err := s.acquire(ctx, time.Minute, nil, "Sync"); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled while waiting: %v", err)
	}
}
