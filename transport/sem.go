package transport

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"
)

// semaphore bounds calls in flight, as RocketMQ's permits do. Taking and giving back a
// permit is an atomic add on the fast path: every call of a client takes one, from many
// goroutines at once, and a channel's lock would be their meeting point. Only a caller
// that finds none free waits, on a channel that each release signals.
type semaphore struct {
	used    atomic.Int64
	max     int64
	waiters atomic.Int32
	freed   chan struct{} // holds a token after a release while callers wait
}

func newSemaphore(n int) *semaphore {
	return &semaphore{max: int64(n), freed: make(chan struct{}, 1)}
}

func (s *semaphore) tryAcquire() bool {
	for {
		n := s.used.Load()
		if n >= s.max {
			return false
		}
		if s.used.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// acquire waits for a permit until the context's deadline (or, without one, for
// timeout), the context's end or done closes. Running out of time is told as running
// out of permits, the cause to act on, whichever clock saw it first.
func (s *semaphore) acquire(ctx context.Context, timeout time.Duration, done <-chan struct{}, kind string) error {
	if s.tryAcquire() {
		return nil
	}
	s.waiters.Add(1)
	defer s.waiters.Add(-1)
	t := time.NewTimer(waitLimit(ctx, timeout))
	defer t.Stop()
	for {
		// A release between the failed try and the wait leaves its token behind.
		if s.tryAcquire() {
			s.passOn()
			return nil
		}
		select {
		case <-s.freed:
			continue
		case <-t.C:
		case <-ctx.Done():
			if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("transport: waiting for a %s permit: %w", kind, context.Cause(ctx))
			}
		case <-done:
			return fmt.Errorf("%w: the connection closed while the call waited for a %s permit", ErrClosed, kind)
		}
		return fmt.Errorf("%w: all %d %s permits are in use and none was freed before the deadline: wait for calls to finish, or raise ConnOptions.%sPermits", ErrTooManyRequests, s.max, kind, kind)
	}
}

// passOn wakes the next waiter when permits remain: one release's token wakes one
// waiter, and several releases may have left only one token.
func (s *semaphore) passOn() {
	if s.waiters.Load() > 1 && s.used.Load() < s.max {
		s.signal()
	}
}

func (s *semaphore) release(n int) {
	if n == 0 {
		return
	}
	s.used.Add(int64(-n))
	if s.waiters.Load() > 0 {
		s.signal()
	}
}

func (s *semaphore) signal() {
	select {
	case s.freed <- struct{}{}:
	default:
	}
}
