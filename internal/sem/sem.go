// Package sem is a counting semaphore whose fast path is an atomic add: the permits
// that bound calls in flight, taken by every call from many goroutines at once.
package sem

import (
	"context"
	"errors"
	"sync/atomic"
	"time"
)

// The errors of Acquire. Running out of time is told as running out of permits, the
// cause to act on, whichever clock saw it first.
var (
	ErrNoPermit = errors.New("no permit was freed before the deadline")
	ErrClosed   = errors.New("closed while waiting for a permit")
)

// WaitLimit is how long a wait may last: until ctx's deadline, or timeout without
// one. Only slow paths that must wait ask, so that fast ones read no clock.
func WaitLimit(ctx context.Context, timeout time.Duration) time.Duration {
	if dl, ok := ctx.Deadline(); ok {
		return time.Until(dl)
	}
	return timeout
}

// Semaphore bounds calls in flight, as RocketMQ's permits do. Taking and giving back a
// permit is an atomic add on the fast path: a channel's lock would be the callers'
// meeting point. Only a caller that finds none free waits, on a channel that each
// release signals.
type Semaphore struct {
	used    atomic.Int64
	max     int64
	waiters atomic.Int32
	freed   chan struct{} // holds a token after a release while callers wait
}

// New returns a semaphore of n permits.
func New(n int) *Semaphore {
	return &Semaphore{max: int64(n), freed: make(chan struct{}, 1)}
}

// TryAcquire takes a permit if one is free. It is one atomic add when one is: a
// compare-and-swap loop would retry under the contention permits see.
func (s *Semaphore) TryAcquire() bool {
	if s.used.Add(1) <= s.max {
		return true
	}
	s.Release(1) // over: give back, and wake a waiter the overshoot may have hidden a permit from
	return false
}

// Acquire waits for a permit until ctx's deadline (or, without one, for timeout),
// ctx's end or done closes. It returns ErrNoPermit when time runs out, ErrClosed when
// done closes, and ctx's cause when ctx is cancelled; the caller words the error.
func (s *Semaphore) Acquire(ctx context.Context, timeout time.Duration, done <-chan struct{}) error {
	if s.TryAcquire() {
		return nil
	}
	s.waiters.Add(1)
	defer s.waiters.Add(-1)
	t := time.NewTimer(WaitLimit(ctx, timeout))
	defer t.Stop()
	for {
		// A release between the failed try and the wait leaves its token behind.
		if s.TryAcquire() {
			s.passOn()
			return nil
		}
		select {
		case <-s.freed:
			continue
		case <-t.C:
		case <-ctx.Done():
			if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return context.Cause(ctx)
			}
		case <-done:
			return ErrClosed
		}
		return ErrNoPermit
	}
}

// Max returns the number of permits.
func (s *Semaphore) Max() int { return int(s.max) }

// passOn wakes the next waiter when permits remain: one release's token wakes one
// waiter, and several releases may have left only one token.
func (s *Semaphore) passOn() {
	if s.waiters.Load() > 1 && s.used.Load() < s.max {
		s.signal()
	}
}

// Release gives back n permits.
func (s *Semaphore) Release(n int) {
	if n == 0 {
		return
	}
	s.used.Add(int64(-n))
	if s.waiters.Load() > 0 {
		s.signal()
	}
}

func (s *Semaphore) signal() {
	select {
	case s.freed <- struct{}{}:
	default:
	}
}
