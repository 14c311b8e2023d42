package rpc

import (
	"context"
	"sync"
	"time"
)

// callCtx is a handler's context: the caller's deadline and the server-side call,
// in one allocation. Its timer and its watch of the parent start only when the handler
// asks for Done, which most handlers never do; Err and Deadline need neither.
type callCtx struct {
	parent   context.Context
	call     *Call
	deadline time.Time // zero: none of its own

	mu    sync.Mutex
	done  chan struct{}
	err   error
	timer *time.Timer
	stop  func() bool
}

func newCallCtx(parent context.Context, call *Call, deadline time.Time) *callCtx {
	return &callCtx{parent: parent, call: call, deadline: deadline}
}

func (c *callCtx) Deadline() (time.Time, bool) {
	if pd, ok := c.parent.Deadline(); ok && (c.deadline.IsZero() || pd.Before(c.deadline)) {
		return pd, true
	}
	return c.deadline, !c.deadline.IsZero()
}

func (c *callCtx) Value(key any) any {
	if key == (serverKey{}) {
		return c.call
	}
	return c.parent.Value(key)
}

func (c *callCtx) Done() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done != nil {
		return c.done
	}
	c.done = make(chan struct{})
	if c.err != nil {
		close(c.done)
		return c.done
	}
	if !c.deadline.IsZero() {
		c.timer = time.AfterFunc(time.Until(c.deadline), func() { c.cancel(context.DeadlineExceeded) })
	}
	if c.parent.Done() != nil {
		c.stop = context.AfterFunc(c.parent, func() { c.cancel(c.parent.Err()) })
	}
	return c.done
}

func (c *callCtx) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == nil {
		if err := c.parent.Err(); err != nil {
			c.err = err
		} else if !c.deadline.IsZero() && !time.Now().Before(c.deadline) {
			c.err = context.DeadlineExceeded
		}
		if c.err != nil && c.done != nil {
			close(c.done)
		}
	}
	return c.err
}

func (c *callCtx) cancel(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == nil {
		c.err = err
		if c.done != nil {
			close(c.done)
		}
	}
}

// release stops the timer and the parent watch once the handler has returned.
func (c *callCtx) release() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.timer != nil {
		c.timer.Stop()
	}
	if c.stop != nil {
		c.stop()
	}
}

func (c *callCtx) String() string { return "rpc.callCtx" }
