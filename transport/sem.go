package transport

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// semaphore bounds calls in flight, as RocketMQ's permits do. Acquiring never
// allocates unless it has to wait.
type semaphore chan struct{}

func newSemaphore(n int) semaphore { return make(semaphore, n) }

func (s semaphore) tryAcquire() bool {
	select {
	case s <- struct{}{}:
		return true
	default:
		return false
	}
}

// acquire waits for a permit until the context's deadline (or, without one, for
// timeout), the context's end or done closes. Running out of time is told as running
// out of permits, the cause to act on, whichever clock saw it first.
func (s semaphore) acquire(ctx context.Context, timeout time.Duration, done <-chan struct{}, kind string) error {
	if s.tryAcquire() {
		return nil
	}
	t := time.NewTimer(waitLimit(ctx, timeout))
	defer t.Stop()
	select {
	case s <- struct{}{}:
		return nil
	case <-t.C:
	case <-ctx.Done():
		if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return fmt.Errorf("transport: waiting for a %s permit: %w", kind, context.Cause(ctx))
		}
	case <-done:
		return fmt.Errorf("%w: the connection closed while the call waited for a %s permit", ErrClosed, kind)
	}
	return fmt.Errorf("%w: all %d %s permits are in use and none was freed before the deadline: wait for calls to finish, or raise Options.%sPermits", ErrTooManyRequests, cap(s), kind, kind)
}

func (s semaphore) release(n int) {
	for range n {
		<-s
	}
}
