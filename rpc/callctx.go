package rpc

import (
	"context"
	"sync"
	"time"
)

// callCtx is a handler's context: the caller's deadline, metadata and address, over the
// transport's context of the request, which ends when the caller cancels or the
// connection closes. It ends itself when the handler returns.
//
// It holds what IncomingMetadata, PeerFromContext and SetReplyMetadata serve, never
// the pooled Call, so a handler may keep it and hand it to goroutines that outlive the
// call: they read the same metadata, and SetReplyMetadata reports false once the
// response is on its way.
//
// Its timer and its watch of the parent start only when Done or AfterFunc is first
// asked for, which most handlers never do. It implements AfterFunc, which the context
// package looks for, so contexts derived from it start no goroutine.
type callCtx struct {
	parent   context.Context
	deadline time.Time // zero: none of its own
	in       Metadata
	peer     string

	mu       sync.Mutex
	out      Metadata
	returned bool // the handler returned: reply metadata is no longer taken
	err      error
	done     chan struct{}
	armed    bool // the timer and the parent watch were asked for
	timer    *time.Timer
	stop     func() bool // stops the parent watch
	funcs    []*afterFunc
}

// afterFuncer is what the context package looks for to propagate cancellation without
// a goroutine.
type afterFuncer interface {
	AfterFunc(func()) func() bool
}

// afterFunc is a function registered with callCtx.AfterFunc; f is nil once it ran or
// was stopped.
type afterFunc struct {
	ctx *callCtx
	f   func()
}

func newCallCtx(parent context.Context, deadline time.Time, in Metadata, peer string) *callCtx {
	return &callCtx{parent: parent, deadline: deadline, in: in, peer: peer}
}

// handlerCtx returns the handler context ctx is or derives from, or nil.
func handlerCtx(ctx context.Context) *callCtx {
	c, _ := ctx.Value(serverKey{}).(*callCtx)
	return c
}

func (c *callCtx) Deadline() (time.Time, bool) {
	if pd, ok := c.parent.Deadline(); ok && (c.deadline.IsZero() || pd.Before(c.deadline)) {
		return pd, true
	}
	return c.deadline, !c.deadline.IsZero()
}

func (c *callCtx) Value(key any) any {
	if key == (serverKey{}) {
		return c
	}
	return c.parent.Value(key)
}

func (c *callCtx) Err() error {
	c.mu.Lock()
	err := c.err
	c.mu.Unlock()
	if err != nil {
		return err
	}
	if err = c.parent.Err(); err == nil && !c.deadline.IsZero() && !time.Now().Before(c.deadline) {
		err = context.DeadlineExceeded
	}
	if err == nil {
		return nil
	}
	c.end(err)
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

func (c *callCtx) Done() <-chan struct{} {
	c.mu.Lock()
	if c.done == nil {
		c.done = make(chan struct{})
		if c.err != nil {
			close(c.done)
		}
	}
	done := c.done
	arm := c.err == nil && !c.armed
	c.armed = true
	c.mu.Unlock()
	if arm {
		c.arm()
	}
	return done
}

// AfterFunc arranges for f to run once the context ends; see context.AfterFunc. f runs
// in the goroutine that ends the context, so it must be quick: the context package
// gives it only cancellations of derived contexts.
func (c *callCtx) AfterFunc(f func()) (stop func() bool) {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		go f() // the caller may hold a lock that f takes
		return func() bool { return false }
	}
	a := &afterFunc{ctx: c, f: f}
	c.funcs = append(c.funcs, a)
	arm := !c.armed
	c.armed = true
	c.mu.Unlock()
	if arm {
		c.arm()
	}
	return a.stop
}

// stop unregisters the function and reports whether it had not yet run.
func (a *afterFunc) stop() bool {
	c := a.ctx
	c.mu.Lock()
	defer c.mu.Unlock()
	if a.f == nil {
		return false
	}
	a.f = nil
	for i, b := range c.funcs {
		if b == a {
			c.funcs = append(c.funcs[:i], c.funcs[i+1:]...)
			break
		}
	}
	return true
}

// arm starts the deadline's timer and the watch of the parent, without a goroutine
// when the parent implements AfterFunc (the transport's request context does).
func (c *callCtx) arm() {
	if err := c.parent.Err(); err != nil {
		c.end(err)
		return
	}
	var timer *time.Timer
	if !c.deadline.IsZero() {
		d := time.Until(c.deadline)
		if d <= 0 {
			c.end(context.DeadlineExceeded)
			return
		}
		timer = time.AfterFunc(d, func() { c.end(context.DeadlineExceeded) })
	}
	var stop func() bool
	if a, ok := c.parent.(afterFuncer); ok {
		stop = a.AfterFunc(c.parentEnded)
	} else if c.parent.Done() != nil {
		stop = context.AfterFunc(c.parent, c.parentEnded)
	}
	c.mu.Lock()
	ended := c.err != nil
	if !ended {
		c.timer, c.stop = timer, stop
	}
	c.mu.Unlock()
	if ended {
		stopWatch(timer, stop)
	}
}

func (c *callCtx) parentEnded() {
	err := c.parent.Err()
	if err == nil {
		err = context.Canceled
	}
	c.end(err)
}

// end ends the context once with err: Done's channel closes, the registered functions
// run, and the timer and the parent watch stop.
func (c *callCtx) end(err error) {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return
	}
	c.err = err
	if c.done != nil {
		close(c.done)
	}
	var fs []func()
	for _, a := range c.funcs {
		fs = append(fs, a.f)
		a.f = nil
	}
	c.funcs = nil
	timer, stop := c.timer, c.stop
	c.timer, c.stop = nil, nil
	c.mu.Unlock()
	stopWatch(timer, stop)
	for _, f := range fs {
		f()
	}
}

func stopWatch(timer *time.Timer, stop func() bool) {
	if timer != nil {
		timer.Stop()
	}
	if stop != nil {
		stop()
	}
}

// setReply adds a pair to the reply metadata, until the handler returns.
func (c *callCtx) setReply(key, value string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.returned {
		return false
	}
	if c.out == nil {
		c.out = make(Metadata)
	}
	c.out[key] = value
	return true
}

// release ends the context once the handler has returned, and returns the reply
// metadata the handler set.
func (c *callCtx) release() Metadata {
	c.mu.Lock()
	c.returned = true
	out := c.out
	c.mu.Unlock()
	c.end(context.Canceled)
	return out
}

func (c *callCtx) String() string { return "rpc.callCtx" }
