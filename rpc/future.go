package rpc

import (
	"context"
	"fmt"
	"runtime/debug"
	"sync"

	"github.com/ringrpc/ringrpc/internal/sem"
	"github.com/ringrpc/ringrpc/transport"
)

// Future is the outcome of an async call, completed exactly once with a value or an
// error.
//
// The results are decoded by the first goroutine that asks for them (Wait, or the
// goroutine that runs the callbacks), never by the connection's reader, so a slow or
// failing decode stalls no other call.
type Future[T any] struct {
	done  chan struct{}
	run   *runner        // where callbacks run
	slots *sem.Semaphore // the client's async slot this call holds, given back when it is over

	mu        sync.Mutex
	over      bool
	notifying bool // the callbacks registered before completion are running
	settled   bool // val and err are final; else resp awaits decoding
	cbs       []func(T, error)
	val       T
	err       error
	resp      *transport.Command
	m         *MethodDesc
	decode    func(*Decoder) (T, error)
}

func newFuture[T any](run *runner) *Future[T] {
	return &Future[T]{done: make(chan struct{}), run: run}
}

// fail completes the future with err; only the first completion counts.
func (f *Future[T]) fail(err error) {
	var zero T
	f.finish(func() { f.val, f.err, f.settled = zero, err, true })
}

// succeed completes the future with v.
func (f *Future[T]) succeed(v T) {
	f.finish(func() { f.val, f.settled = v, true })
}

// arrive completes the future with a successful response, decoded later.
func (f *Future[T]) arrive(resp *transport.Command, m *MethodDesc, decode func(*Decoder) (T, error)) {
	f.finish(func() { f.resp, f.m, f.decode = resp, m, decode })
}

// finish sets the outcome with set, wakes the waiters and hands the callbacks to the
// runner: they may block or panic without harm to the goroutine completing the call,
// often a connection's reader.
func (f *Future[T]) finish(set func()) {
	f.mu.Lock()
	if f.over {
		f.mu.Unlock()
		return
	}
	set()
	f.over = true
	cbs := f.cbs
	f.cbs = nil
	f.notifying = len(cbs) > 0
	close(f.done)
	f.mu.Unlock()
	if len(cbs) == 0 {
		f.releaseSlot()
		return
	}
	notify := func() {
		defer f.releaseSlot()
		v, err := f.result()
		for len(cbs) > 0 {
			for _, cb := range cbs {
				f.call(cb, v, err)
			}
			// Callbacks registered meanwhile queued behind these: run them next.
			f.mu.Lock()
			cbs, f.cbs = f.cbs, nil
			f.notifying = len(cbs) > 0
			f.mu.Unlock()
		}
	}
	f.run.runOrCall(notify)
}

// releaseSlot gives back the async slot the call held, once its callbacks have run.
func (f *Future[T]) releaseSlot() {
	if f.slots != nil {
		f.slots.Release(1)
	}
}

// result decodes the response once and returns the outcome; the future is over.
func (f *Future[T]) result() (T, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.settled {
		f.val, f.err = f.decodeResp()
		f.resp, f.decode, f.settled = nil, nil, true
	}
	return f.val, f.err
}

// decodeResp runs the generated decode function, turning a panic into an error.
func (f *Future[T]) decodeResp() (v T, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = Errorf(CodeInternal, "decoding the results of %s panicked: %v", f.m.Name, r)
		}
	}()
	d := newDecoder(f.resp.Body, f.m.resultsArray())
	d.result, d.m = true, f.m
	d.resp = f.resp // given back by the decode function's Finish
	return f.decode(&d)
}

// call runs one callback; a panic in it is logged, and the process goes on.
func (f *Future[T]) call(cb func(T, error), v T, err error) {
	defer func() {
		if r := recover(); r != nil {
			f.run.log.Error("rpc: a future's OnComplete callback panicked", "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
		}
	}()
	cb(v, err)
}

// Done returns a channel closed when the call completes.
func (f *Future[T]) Done() <-chan struct{} { return f.done }

// Wait blocks until the call completes or ctx ends, and returns its outcome. Ending
// ctx stops the wait, not the call: cancel the context the call was made with to
// cancel the call. A call that has completed returns its outcome whatever ctx.
func (f *Future[T]) Wait(ctx context.Context) (T, error) {
	select {
	case <-f.done:
		return f.result()
	default:
	}
	select {
	case <-f.done:
		return f.result()
	case <-ctx.Done():
		var zero T
		return zero, fromTransport(ctx.Err(), "waiting for a call's outcome: the wait's context ended, not the call, which goes on: Wait again for its outcome, or cancel the context the call was made with to cancel it")
	}
}

// OnComplete calls cb with the outcome once the call completes: at once, in this
// goroutine, if it has; otherwise on a goroutine of the client's, never on the
// connection's reader, so a slow callback delays no other call. Callbacks
// registered before the call completes run in the order registered, one after
// another; one registered after it completed runs at once in the goroutine that
// registers it, so such callbacks registered from several goroutines may run at the
// same time. A panicking callback is logged and does not stop the others.
func (f *Future[T]) OnComplete(cb func(T, error)) {
	f.mu.Lock()
	if !f.over || f.notifying {
		f.cbs = append(f.cbs, cb)
		f.mu.Unlock()
		return
	}
	f.mu.Unlock()
	v, err := f.result()
	f.call(cb, v, err)
}
