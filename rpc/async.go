package rpc

import (
	"context"
	"errors"

	"github.com/ringrpc/ringrpc/transport"
)

// InvokeAsync sends the call and returns a future completed, exactly once, with the
// results decode reads or the call's error. Without interceptors no goroutine is
// started: the future completes on the connection's reader. With interceptors the
// chain runs on a goroutine of its own, which Close waits for.
func InvokeAsync[T any](c *Client, ctx context.Context, call *Call, decode func(*Decoder) (T, error)) *Future[T] {
	f := newFuture[T]()
	if c.hasChain {
		if !c.track() {
			putCall(call)
			var zero T
			f.complete(zero, closedError())
			return f
		}
		go func() {
			defer c.async.Done()
			d, err := c.Invoke(ctx, call)
			if err != nil {
				var zero T
				f.complete(zero, err)
				return
			}
			f.complete(decode(&d))
		}()
		return f
	}
	a := &asyncCall[T]{c: c, ctx: ctx, call: call, decode: decode, f: f}
	a.start()
	return f
}

func closedError() *Error {
	return NewError(CodeClosed, "the client is closed")
}

// track counts a goroutine Close must wait for; false once the client is closed.
func (c *Client) track() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	c.async.Add(1)
	return true
}

// asyncCall walks the failover order with transport callbacks instead of a goroutine.
type asyncCall[T any] struct {
	c      *Client
	ctx    context.Context
	call   *Call
	decode func(*Decoder) (T, error)
	f      *Future[T]
	addrs  []string
	i      int
	retry  bool
}

func (a *asyncCall[T]) start() {
	if err := a.c.prepare(a.ctx, a.call); err != nil {
		a.fail(err)
		return
	}
	addrs, err := a.c.resolve(a.ctx, a.call)
	if err != nil {
		a.fail(err)
		return
	}
	a.addrs = addrs
	a.retry = a.c.retry || a.call.m.Idempotent || a.ctx.Value(retryKey{}) != nil
	a.try()
}

func (a *asyncCall[T]) try() {
	addr := a.addrs[a.i]
	a.call.peer = addr
	a.c.tc.InvokeAsync(a.ctx, addr, &a.call.cmd, a.done)
}

func (a *asyncCall[T]) done(resp *transport.Command, err error) {
	rerr, retry := a.c.outcome(a.ctx, a.call, a.call.peer, resp, err, a.retry)
	if rerr == nil {
		d := newDecoder(resp.Body, a.call.m.resultsArray())
		d.result, d.m = true, a.call.m
		v, derr := a.decode(&d)
		putCall(a.call)
		a.f.complete(v, derr)
		return
	}
	if !retry || a.i+1 >= len(a.addrs) || a.ctx.Err() != nil {
		a.fail(rerr)
		return
	}
	a.i++
	if errors.Is(err, transport.ErrConnectFailed) {
		a.try() // failed in the caller's goroutine: nothing else waits on this one
		return
	}
	// The callback may run on a connection's reader or close path: don't dial there.
	if !a.c.track() {
		a.fail(closedError())
		return
	}
	go func() {
		defer a.c.async.Done()
		a.try()
	}()
}

func (a *asyncCall[T]) fail(err error) {
	putCall(a.call)
	var zero T
	a.f.complete(zero, err)
}
