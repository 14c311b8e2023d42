package transport

import (
	"context"
	"sync"
	"time"
)

// call is one request waiting for its response. Sync calls come from a pool and are
// waited on by their caller; async calls carry a callback and a reaping timer.
type call struct {
	opaque int32
	done   chan struct{} // sync: receives once when the call completes
	resp   *Command
	err    error

	// async only
	cb     func(*Command, error)
	conn   *Conn
	req    *Command
	timer  *time.Timer
	stopFn func() bool // stops the context watch
}

var callPool = sync.Pool{New: func() any {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &syncCall{call: call{done: make(chan struct{}, 1)}, timer: t}
}}

// syncCall is a pooled call with the timer its caller waits on.
type syncCall struct {
	call
	timer *time.Timer
}

func getSyncCall() *syncCall { return callPool.Get().(*syncCall) }

func putSyncCall(s *syncCall) {
	s.resp, s.err = nil, nil
	callPool.Put(s)
}

// complete delivers the outcome. It is called exactly once, by whoever removed the call
// from its connection's pending table (or by the sender when it never got there).
func (cl *call) complete(resp *Command, err error) {
	if cl.cb == nil {
		cl.resp, cl.err = resp, err
		cl.done <- struct{}{}
		return
	}
	cl.timer.Stop()
	if cl.stopFn != nil {
		cl.stopFn()
	}
	if err == nil {
		err = runAfterHooks(cl.conn, cl.req, resp)
		if err != nil {
			resp = nil
		}
	}
	cl.conn.cfg.asyncPermits.release(1)
	cl.cb(resp, err)
}

func runAfterHooks(c *Conn, req, resp *Command) error {
	for _, h := range c.cfg.hooks {
		if err := h.AfterResponse(c.addr, req, resp); err != nil {
			return err
		}
	}
	return nil
}

func runBeforeHooks(c *Conn, req *Command) error {
	for _, h := range c.cfg.hooks {
		if err := h.BeforeRequest(c.addr, req); err != nil {
			return err
		}
	}
	return nil
}

// deadline returns the end of a call: the context's deadline, or now plus the default.
func (c *Conn) deadline(ctx context.Context) time.Time {
	if dl, ok := ctx.Deadline(); ok {
		return dl
	}
	return time.Now().Add(c.cfg.timeout)
}

// InvokeSync sends req and waits for its response, until ctx ends, the deadline (the
// context's, or Options.Timeout) passes, or the connection fails. A response with a
// non-zero code is returned as a response, not an error. req is not modified.
func (c *Conn) InvokeSync(ctx context.Context, req *Command) (*Command, error) {
	start := time.Now()
	deadline, own := ctx.Deadline()
	if !own {
		deadline = start.Add(c.cfg.timeout)
	}
	if err := runBeforeHooks(c, req); err != nil {
		return nil, err
	}
	sc := getSyncCall()
	if err := c.addPending(&sc.call); err != nil {
		putSyncCall(sc)
		return nil, err
	}
	if err := c.send(ctx, req, sc.opaque, 0, c.cfg.serialize, deadline); err != nil {
		if !c.removePending(&sc.call) {
			<-sc.done // completed meanwhile by a close; our error says more
		}
		putSyncCall(sc)
		return nil, err
	}
	// A context with a deadline wakes us itself; only the default needs a timer.
	var expired <-chan time.Time
	if !own {
		sc.timer.Reset(deadline.Sub(start))
		expired = sc.timer.C
	}
	var err error
	select {
	case <-sc.done:
	case <-expired:
		err = &timeoutError{what: "call", addr: c.addr, waited: time.Since(start), opaque: sc.opaque, hasOpaq: true}
	case <-ctx.Done():
		err = ctxError(ctx, "call", c.addr, start)
	}
	if !own {
		sc.timer.Stop()
	}
	if err != nil {
		if c.removePending(&sc.call) {
			putSyncCall(sc)
			return nil, err
		}
		<-sc.done // the response or a failure won the race; use it
	}
	resp, err := sc.resp, sc.err
	putSyncCall(sc)
	if err == nil {
		if err = runAfterHooks(c, req, resp); err != nil {
			return nil, err
		}
	}
	return resp, err
}

// InvokeAsync sends req and calls cb exactly once with the response or the error: a
// deadline (the context's, or Options.Timeout), the context's end, the connection's
// failure, or no permit in time. cb runs on the connection's reader goroutine or a
// timer's, so it must return quickly and must not call Close (which waits for the
// reader); hand long work to another goroutine. The number
// of async calls in flight is bounded by Options.AsyncPermits; InvokeAsync waits for a
// permit until the deadline.
func (c *Conn) InvokeAsync(ctx context.Context, req *Command, cb func(*Command, error)) {
	if cb == nil {
		cb = func(*Command, error) {} // completion still releases the permit
	}
	start := time.Now()
	deadline := c.deadline(ctx)
	if err := runBeforeHooks(c, req); err != nil {
		cb(nil, err)
		return
	}
	if err := c.cfg.asyncPermits.acquire(ctx, deadline, c.closing, "Async"); err != nil {
		cb(nil, err)
		return
	}
	cl := &call{cb: cb, conn: c, req: req}
	cl.timer = time.AfterFunc(time.Until(deadline), func() {
		if c.removePending(cl) {
			cl.complete(nil, &timeoutError{what: "async call", addr: c.addr, waited: time.Since(start), opaque: cl.opaque, hasOpaq: true})
		}
	})
	if ctx.Done() != nil {
		cl.stopFn = context.AfterFunc(ctx, func() {
			if c.removePending(cl) {
				cl.complete(nil, ctxError(ctx, "async call", c.addr, start))
			}
		})
	}
	if err := c.addPending(cl); err != nil {
		cl.complete(nil, err)
		return
	}
	// The timer or the context may have fired before the call was pending.
	if !time.Now().Before(deadline) || ctx.Err() != nil {
		if c.removePending(cl) {
			cl.complete(nil, ctxError(ctx, "async call", c.addr, start))
		}
		return
	}
	if err := c.send(ctx, req, cl.opaque, 0, c.cfg.serialize, deadline); err != nil {
		if c.removePending(cl) {
			cl.complete(nil, err)
		}
	}
}

// InvokeOneway sends req with the oneway flag; the peer never answers. It returns once
// the request is queued for writing. Requests queued but not yet written are bounded by
// Options.OnewayPermits; InvokeOneway waits for a permit until the deadline.
func (c *Conn) InvokeOneway(ctx context.Context, req *Command) error {
	deadline := c.deadline(ctx)
	if err := runBeforeHooks(c, req); err != nil {
		return err
	}
	if err := c.cfg.onewayPermits.acquire(ctx, deadline, c.closing, "Oneway"); err != nil {
		return err
	}
	if err := c.send(ctx, req, c.nextOpaque.Add(1), FlagOneway, c.cfg.serialize, deadline); err != nil {
		c.cfg.onewayPermits.release(1)
		return err
	}
	return nil
}
