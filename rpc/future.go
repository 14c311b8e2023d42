package rpc

import (
	"context"
	"sync"
)

// Future is the outcome of an async call, completed exactly once with a value or an
// error.
type Future[T any] struct {
	done chan struct{}
	mu   sync.Mutex
	over bool
	cbs  []func(T, error)
	val  T
	err  error
}

func newFuture[T any]() *Future[T] {
	return &Future[T]{done: make(chan struct{})}
}

// complete sets the outcome; only the first call counts.
func (f *Future[T]) complete(v T, err error) {
	f.mu.Lock()
	if f.over {
		f.mu.Unlock()
		return
	}
	f.val, f.err, f.over = v, err, true
	cbs := f.cbs
	f.cbs = nil
	close(f.done)
	f.mu.Unlock()
	for _, cb := range cbs {
		cb(v, err)
	}
}

// Done returns a channel closed when the call completes.
func (f *Future[T]) Done() <-chan struct{} { return f.done }

// Wait blocks until the call completes or ctx ends. Ending ctx stops the wait, not the
// call: the call ends at its own deadline.
func (f *Future[T]) Wait(ctx context.Context) (T, error) {
	select {
	case <-f.done:
		return f.val, f.err
	case <-ctx.Done():
		var zero T
		return zero, fromTransport(ctx.Err(), "waiting for a future")
	}
}

// OnComplete calls cb with the outcome once the call completes: at once, in this
// goroutine, if it has; otherwise on the goroutine that completes it, usually the
// connection's reader, so cb must not block. Callbacks run in the order registered.
func (f *Future[T]) OnComplete(cb func(T, error)) {
	f.mu.Lock()
	if !f.over {
		f.cbs = append(f.cbs, cb)
		f.mu.Unlock()
		return
	}
	f.mu.Unlock()
	cb(f.val, f.err)
}
