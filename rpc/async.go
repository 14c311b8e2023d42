package rpc

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/ringrpc/ringrpc/internal/sem"

	"github.com/ringrpc/ringrpc/transport"
)

// InvokeAsync sends the call and returns a future completed, exactly once, with the
// results decode reads or the call's error. Generated async clients call it.
//
// InvokeAsync returns at once: it waits only for an async slot (below). Without
// interceptors, a call whose provider is connected, resolved by StaticAddress or
// StaticList, involves no goroutine: the call walks its providers with transport
// callbacks, and the response completes the future without being decoded on the
// connection's reader; so does one whose resolver tells at once that it knows its
// providers (an ImmediateResolver: a registry.Registry that has the service on its
// rings). What may take time, a dial,
// the wait before a move, a resolve that waits for a provider (registry.Registry waits
// for one that is joining), and with interceptors the chain, runs on a goroutine the
// client keeps for reuse.
//
// Every async call holds one of the client's Transport.AsyncPermits slots from here
// until its future has completed and the callbacks registered by then have run: async
// calls with interceptors are bounded like the others, and so are callbacks that take
// their time. Without a free slot, InvokeAsync waits for one until the call's deadline:
// the context's or, without one, ClientOptions.Timeout, which starts before the wait.
func InvokeAsync[T any](c *Client, ctx context.Context, call *Call, decode func(*Decoder) (T, error)) *Future[T] {
	f := newFuture[T](c.run)
	if c.isClosed() {
		putCall(call)
		f.fail(closedError())
		return f
	}
	c.begin(ctx, call)
	if err := c.acquireAsyncSlot(ctx, call); err != nil {
		putCall(call)
		f.fail(err)
		return f
	}
	f.slots = c.asyncSlots
	if c.hasChain {
		chainAsync(c, ctx, call, f, decode)
		return f
	}
	a := &asyncCall[T]{c: c, ctx: ctx, call: call, decode: decode, f: f}
	if !a.knownNow() {
		a.elsewhere(func() { a.start(true) })
	} else {
		a.start(false)
	}
	return f
}

// failOnPanic fails f when what runs for it on a runner goroutine (interceptors, the
// resolver) panics, and lets the runner log the panic. The call is not recycled: the
// panic may have left it anywhere.
func failOnPanic[T any](f *Future[T], call *Call) {
	if p := recover(); p != nil {
		f.fail(Errorf(CodeInternal, "call %s.%s: an interceptor or the resolver panicked: %v", call.svc.Name, call.m.Name, p))
		panic(p)
	}
}

func closedError() *Error {
	return NewError(CodeClosed, "the client is closed")
}

// chainAsync runs the interceptors and the sync walk on a runner goroutine.
func chainAsync[T any](c *Client, ctx context.Context, call *Call, f *Future[T], decode func(*Decoder) (T, error)) {
	ok := c.run.run(func() {
		defer failOnPanic(f, call)
		switch err := c.invoke(ctx, call); {
		case err != nil:
			f.fail(err)
		case call.m.Oneway:
			var zero T
			f.succeed(zero)
		default:
			f.arrive(call.resp, call.m, decode)
		}
		putCall(call)
	})
	if !ok {
		putCall(call)
		f.fail(closedError())
	}
}

// acquireAsyncSlot waits for a slot until the call's deadline.
func (c *Client) acquireAsyncSlot(ctx context.Context, call *Call) error {
	timeout := c.timeout
	if !call.deadline.IsZero() {
		timeout = time.Until(call.deadline)
	}
	switch err := c.asyncSlots.Acquire(ctx, timeout, nil); {
	case err == nil:
		return nil
	case errors.Is(err, sem.ErrNoPermit):
		return &Error{Code: CodeBusy, cause: transport.ErrTooManyRequests, Message: fmt.Sprintf("too many requests: all %d async calls are in flight (callbacks included) and none ended before the deadline: wait for calls to finish, or raise transport.ConnOptions.AsyncPermits (in rpc.ClientOptions.Transport)", c.asyncSlots.Max())}
	default:
		return fromTransport(err, "waiting for an async slot")
	}
}

// asyncCall is one async call's walk over its providers, driven by transport
// callbacks.
type asyncCall[T any] struct {
	c        *Client
	ctx      context.Context
	call     *Call
	decode   func(*Decoder) (T, error)
	f        *Future[T]
	n        int  // the attempt under way
	resolved bool // knownNow found the providers

	// The attempt's own timeout, when it has one (RetryPolicy.AttemptTimeout).
	actx  context.Context
	stop  context.CancelFunc
	limit time.Duration

	// release ends the context callDeadline bound ctx with, once the call left the
	// fast path; nil before.
	release context.CancelFunc

	// A oneway attempt queued and not yet settled, by its write or by the call's
	// deadline (expire); see sendOneway.
	queued atomic.Bool
	expire atomic.Pointer[time.Timer]
}

// start encodes and resolves the call, and sends its first attempt; onRunner says
// whether it runs on a runner goroutine, as it does when the resolver must wait.
func (a *asyncCall[T]) start(onRunner bool) {
	if err := a.c.prepare(a.ctx, a.call); err != nil {
		a.fail(err)
		return
	}
	if !a.resolved { // knownNow found none: the resolver is not asked again
		if err := a.c.resolveWaiting(a.ctx, a.call); err != nil {
			a.fail(err)
			return
		}
	}
	a.try(onRunner)
}

// knownNow resolves the call's providers when the resolver knows them without
// waiting, and reports whether it did: only a call that must wait for a provider
// resolves on a runner goroutine.
func (a *asyncCall[T]) knownNow() bool {
	a.resolved = a.c.resolveNow(a.ctx, a.call)
	return a.resolved
}

// try sends the nth attempt; its outcome arrives in done. A dial takes time: it runs
// on a runner goroutine (onRunner), not on InvokeAsync's caller nor on a connection's
// reader.
func (a *asyncCall[T]) try(onRunner bool) {
	if onRunner || stale(a.ctx, a.call) {
		a.bind()
	}
	a.call.peer = a.call.addrs[a.n]
	if err := a.c.unsent(a.ctx, a.call); err != nil {
		a.fail(err)
		return
	}
	conn := a.c.connected(a.ctx, a.call, a.n)
	if !onRunner && (conn == nil || conn.Congested()) { // a dial, or a wait for room
		a.elsewhere(func() { a.try(true) })
		return
	}
	if conn == nil {
		var err error
		if conn, err = a.c.dial(a.ctx, a.call, a.n); err != nil {
			a.done(nil, err)
			return
		}
	}
	if a.call.m.Oneway {
		a.sendOneway(conn)
		return
	}
	ctx := a.ctx
	if a.limit = a.c.attemptLimit(a.ctx, a.call, a.n); a.limit > 0 {
		a.actx, a.stop = context.WithTimeoutCause(a.ctx, a.limit, errAttemptTimedOut)
		ctx = a.actx
	}
	conn.InvokeAsync(ctx, &a.call.cmd, a.done)
}

// sendOneway queues a oneway attempt. Its future completes when the request is
// written, or at the call's deadline if it is still queued then: a peer that reads
// nothing holds it until WriteTimeout. The request may then still be written, and
// run, later.
func (a *asyncCall[T]) sendOneway(conn *transport.Conn) {
	dl := deadlineOf(a.ctx, a.call) // read first: once written, the call is recycled
	a.queued.Store(true)
	conn.InvokeOnewayAsync(a.ctx, &a.call.cmd, a.written)
	if dl.IsZero() || !a.queued.Load() {
		return // no deadline; or written, or refused, already
	}
	t := time.AfterFunc(time.Until(dl), a.expired)
	a.expire.Store(t)
	if !a.queued.Load() {
		t.Stop() // written meanwhile, before the timer could be stopped by it
	}
}

// written receives the outcome of a oneway attempt, on the connection's writer,
// unless the call's deadline came first.
func (a *asyncCall[T]) written(err error) {
	if !a.queued.CompareAndSwap(true, false) {
		return
	}
	if t := a.expire.Swap(nil); t != nil {
		t.Stop()
	}
	a.done(nil, err)
}

// expired ends a oneway call whose request is still queued at its deadline.
func (a *asyncCall[T]) expired() {
	if a.queued.CompareAndSwap(true, false) {
		a.fail(a.c.notWritten(a.call))
	}
}

// done receives an attempt's outcome, often on a connection's reader (a response, or
// nil for a oneway call that was written): it classifies it and hands everything that
// may take time elsewhere.
func (a *asyncCall[T]) done(resp *transport.Command, err error) {
	var aerr *Error
	var f fate
	limited := a.stop != nil
	if limited {
		a.stop()
		a.stop = nil
	}
	switch {
	case err != nil && limited && timedOut(a.ctx, a.actx, err):
		aerr, f = a.c.attemptTimedOut(a.call, a.limit, err)
	case err != nil:
		aerr, f = a.c.failed(a.ctx, a.call, err)
	case resp != nil:
		aerr, f = a.c.answered(a.ctx, a.call, resp)
	}
	if aerr == nil {
		a.c.budget.succeeded()
		a.end()
		if resp == nil { // a oneway call, written
			var zero T
			a.f.succeed(zero)
		} else {
			a.f.arrive(resp, a.call.m, a.decode)
		}
		putCall(a.call)
		return
	}
	delay, merr := a.c.move(a.ctx, a.call, a.n, aerr, f)
	if merr != nil {
		a.fail(merr)
		return
	}
	a.n++
	// Dialling or waiting must not happen on a connection's reader.
	a.elsewhere(func() {
		a.bind()
		if err := a.c.waitBackoff(a.ctx, delay, aerr); err != nil {
			a.fail(err)
			return
		}
		a.try(true)
	})
}

// elsewhere runs next on a runner goroutine, or fails the call once the client is
// closed.
func (a *asyncCall[T]) elsewhere(next func()) {
	ok := a.c.run.run(func() {
		defer failOnPanic(a.f, a.call)
		next()
	})
	if !ok {
		a.fail(closedError())
	}
}

func (a *asyncCall[T]) fail(err error) {
	a.end()
	putCall(a.call)
	a.f.fail(err)
}

// bind makes the call's deadline its context's, once it left the fast path: a wait, a
// dial or a move takes some of the time.
func (a *asyncCall[T]) bind() {
	if a.release == nil {
		a.ctx, a.release = a.c.callDeadline(a.ctx, a.call)
	}
}

// end releases what the call's walk held.
func (a *asyncCall[T]) end() {
	if a.release != nil {
		a.release()
	}
}

// InvokeOnewayAsync sends a oneway call and returns a future completed once the
// request was written to the connection (this side's kernel accepted it; the provider
// may not have it yet), or with the error that stopped it, or, when the request is
// still queued at the call's deadline (the connection's peer reads slowly), with
// deadline_exceeded: the request may then still be written, and run, later. Generated
// async clients call it. As with InvokeOneway, a provider that has not started the
// call by its deadline (the context's, else ClientOptions.Timeout; what remained of it
// when the request was queued, counted from its arrival) drops it unrun, as does one
// whose queue for it is full.
func InvokeOnewayAsync(c *Client, ctx context.Context, call *Call) *Future[struct{}] {
	call.awaitWrite = true
	return InvokeAsync[struct{}](c, ctx, call, nil)
}
