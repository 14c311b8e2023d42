package transport

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Many callers share few permits: no more than max hold one at a time, and every
// caller gets one in turn, however the releases interleave.
func TestSemaphoreUnderContention(t *testing.T) {
	for _, max := range []int{1, 3, 16} {
		s := newSemaphore(max)
		var held, peak atomic.Int64
		var wg sync.WaitGroup
		for range 64 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 50 {
					if err := s.acquire(context.Background(), time.Minute, nil, "Test"); err != nil {
						t.Error(err)
						return
					}
					n := held.Add(1)
					for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
					}
					held.Add(-1)
					s.release(1)
				}
			}()
		}
		wg.Wait()
		if p := peak.Load(); p > int64(max) {
			t.Fatalf("max %d: %d permits held at once", max, p)
		}
		if u := s.used.Load(); u != 0 {
			t.Fatalf("max %d: %d permits still in use", max, u)
		}
	}
}

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
	if !errors.Is(err, ErrTooManyRequests) || !strings.Contains(err.Error(), "raise ConnOptions.SyncPermits") {
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
	if err := s.acquire(context.Background(), time.Minute, closed, "Sync"); !errors.Is(err, ErrClosed) {
		t.Fatalf("closed while waiting: %v", err)
	}
	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	if err := s.acquire(ctx, time.Minute, nil, "Sync"); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled while waiting: %v", err)
	}
}
