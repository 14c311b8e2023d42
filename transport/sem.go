package transport

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ringrpc/ringrpc/internal/sem"
)

// semaphore bounds calls in flight, as RocketMQ's permits do, and words the errors of
// running out for the caller.
type semaphore struct{ s *sem.Semaphore }

func newSemaphore(n int) *semaphore { return &semaphore{sem.New(n)} }

func (s *semaphore) tryAcquire() bool { return s.s.TryAcquire() }

func (s *semaphore) release(n int) { s.s.Release(n) }

// acquire waits for a permit until the context's deadline (or, without one, for
// timeout), the context's end or done closes. Running out of time is told as running
// out of permits, the cause to act on, whichever clock saw it first.
func (s *semaphore) acquire(ctx context.Context, timeout time.Duration, done <-chan struct{}, kind string) error {
	switch err := s.s.Acquire(ctx, timeout, done); {
	case err == nil:
		return nil
	case errors.Is(err, sem.ErrNoPermit):
		return fmt.Errorf("%w: all %d %s permits are in use and none was freed before the deadline: wait for calls to finish, or raise transport.ConnOptions.%sPermits", ErrTooManyRequests, s.s.Max(), kind, kind)
	case errors.Is(err, sem.ErrClosed):
		return fmt.Errorf("%w: the connection closed while the call waited for a %s permit; the call was not sent", ErrConnectFailed, kind)
	default:
		return fmt.Errorf("transport: waiting for a %s permit: %w", kind, err)
	}
}
