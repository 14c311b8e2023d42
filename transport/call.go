package transport

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
)

// call is one request waiting for its response. Sync calls come from a pool and are
// waited on by their caller; async calls carry a callback.
type call struct {
	opaque  int32
	expires int64         // reaper tick at which the call times out; 0: its context decides
	done    chan struct{} // sync: receives once when the call completes
	resp    *Command
	err     error

	// async only
	cb     func(*Command, error)
	conn   *Conn
	req    *Command
	stopFn func() bool // stops the context watch

	// state orders an async call's sender against its completion: see asyncState.
	state atomic.Uint32
}

// The bits of an async call's state. The sender owns req until it sets asyncSent, so
// an outcome that comes first (a cancel, a close, a timeout, even the response) is
// only stored, with asyncDone: whichever of the two bits is set second delivers it, so
// that the callback, which may recycle req, never runs while req is being encoded.
// asyncQueued and asyncCancelled do the same for the cancel notice: it goes out only
// for a request that was queued, from whichever side comes second.
const (
	asyncSent uint32 = 1 << iota
	asyncQueued
	asyncCancelled
	asyncExpired // with asyncCancelled: its deadline passed (the notice says so)
	asyncDone
)

var callPool = sync.Pool{New: func() any { return &call{done: make(chan struct{}, 1)} }}

func getSyncCall() *call { return callPool.Get().(*call) }

func putSyncCall(cl *call) {
	cl.resp, cl.err, cl.expires = nil, nil, 0
	callPool.Put(cl)
}

func (cl *call) kind() string {
	if cl.cb != nil {
		return "async call"
	}
	return "call"
}

// complete delivers the outcome. It is called exactly once, by whoever removed the call
// from its connection's pending table (or by the sender when it never got there). An
// async call's outcome waits for its sender to be done with the request.
func (cl *call) complete(resp *Command, err error) {
	cl.resp, cl.err = resp, err
	if cl.cb == nil {
		cl.done <- struct{}{}
		return
	}
	if cl.state.Or(asyncDone)&asyncSent != 0 {
		cl.deliver()
	}
}

// sendDone tells an async call that its sender no longer uses the request, and
// whether it was queued; it delivers an outcome that came first.
func (cl *call) sendDone(queued bool) {
	bits := asyncSent
	if queued {
		bits |= asyncQueued
	}
	old := cl.state.Or(bits)
	if queued && old&asyncCancelled != 0 {
		cl.conn.sendCancel(cl.opaque, old&asyncExpired != 0)
	}
	if old&asyncDone != 0 {
		cl.deliver()
	}
}

// cancelled notes that the async call's context ended while it was pending, and sends
// the cancel notice if the request was already queued.
func (cl *call) cancelled(expired bool) {
	bits := uint32(asyncCancelled)
	if expired {
		bits |= asyncExpired
	}
	if cl.state.Or(bits)&asyncQueued != 0 {
		cl.conn.sendCancel(cl.opaque, expired)
	}
}

// deliver runs the hooks and the callback of an async call, once.
func (cl *call) deliver() {
	if cl.stopFn != nil {
		cl.stopFn()
	}
	resp, err := cl.resp, cl.err
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

// InvokeSync sends req and waits for its response, until ctx ends, the deadline (the
// context's, or Options.Timeout) passes, or the connection fails. A response with a
// non-zero code is returned as a response, not an error. req is not modified. The
// number of sync calls in flight is bounded by Options.SyncPermits; InvokeSync waits
// for a permit until the deadline. A request whose ctx has already ended is not sent.
func (c *Conn) InvokeSync(ctx context.Context, req *Command) (*Command, error) {
	if err := notSent(ctx, "call", c.addr); err != nil {
		return nil, err
	}
	if err := c.beforeSend(req); err != nil {
		return nil, err
	}
	if err := c.cfg.syncPermits.acquire(ctx, c.cfg.timeout, c.closingCh, "Sync"); err != nil {
		return nil, err
	}
	defer c.cfg.syncPermits.release(1)
	cl := getSyncCall()
	// A context with a deadline wakes us itself; without one the reaper times us out.
	if _, own := ctx.Deadline(); !own {
		cl.expires = c.expiry()
	}
	alone, err := c.addPending(cl)
	if err != nil {
		putSyncCall(cl)
		return nil, err
	}
	if err := c.w.send(ctx, req, cl.opaque, 0, c.cfg.serialize, nil, alone); err != nil {
		if !c.removePending(cl) {
			<-cl.done // completed meanwhile by a close or the reaper; our error says more
		}
		putSyncCall(cl)
		return nil, err
	}
	if ctx.Done() == nil {
		<-cl.done
	} else if err := c.waitCtx(ctx, cl); err != nil {
		return nil, err
	}
	resp, err := cl.resp, cl.err
	putSyncCall(cl)
	if err == nil {
		if err = runAfterHooks(c, req, resp); err != nil {
			return nil, err
		}
	}
	return resp, err
}

// waitCtx waits for cl or the end of ctx. When ctx wins it removes cl, tells the peer
// the call is cancelled, recycles cl and returns the context's error; when cl completes
// first it returns nil.
func (c *Conn) waitCtx(ctx context.Context, cl *call) error {
	start := sinceBase()
	select {
	case <-cl.done:
		return nil
	case <-ctx.Done():
	}
	if c.removePending(cl) {
		c.sendCancel(cl.opaque, deadlinePassed(ctx))
		putSyncCall(cl)
		return ctxError(ctx, "call", c.addr, start)
	}
	<-cl.done // the response or a failure won the race; use it
	return nil
}

// Congested reports whether a request sent on c now would wait for room in its
// write queue, as the peer has not read what was queued before it: a caller that must
// not wait sends from another goroutine then.
func (c *Conn) Congested() bool { return c.w.backlog.Load() }

// InvokeAsync sends req and calls cb, which may be nil, exactly once with the response
// or the error: a deadline (the context's, or Options.Timeout), the context's end, the
// connection's failure, or no permit in time. cb runs on the connection's reader
// goroutine, on a goroutine of the connection's for a timeout, or on the context's, so
// it must return quickly and must not call Close (which waits for the connection's
// goroutines); hand long work to another goroutine. The number of async calls in
// flight is bounded by Options.AsyncPermits; InvokeAsync waits for a permit until the
// deadline.
func (c *Conn) InvokeAsync(ctx context.Context, req *Command, cb func(*Command, error)) {
	if cb == nil {
		cb = func(*Command, error) {} // completion still releases the permit
	}
	if err := c.beforeSend(req); err != nil {
		cb(nil, err)
		return
	}
	if err := c.cfg.asyncPermits.acquire(ctx, c.cfg.timeout, c.closingCh, "Async"); err != nil {
		cb(nil, err)
		return
	}
	cl := &call{cb: cb, conn: c, req: req}
	if _, own := ctx.Deadline(); !own {
		cl.expires = c.expiry()
	}
	if ctx.Done() != nil {
		start := sinceBase()
		cl.stopFn = context.AfterFunc(ctx, func() {
			if c.removePending(cl) {
				cl.cancelled(deadlinePassed(ctx))
				cl.complete(nil, ctxError(ctx, "async call", c.addr, start))
			}
		})
	}
	cl.sendDone(c.sendAsync(ctx, cl))
}

// sendAsync makes cl pending and queues its request; it reports whether it did. An
// outcome it meets on the way is given to complete, which keeps it for sendDone.
func (c *Conn) sendAsync(ctx context.Context, cl *call) bool {
	alone, err := c.addPending(cl)
	if err != nil {
		cl.complete(nil, err)
		return false
	}
	// The context may have ended before the call was pending.
	if err := ctx.Err(); err != nil {
		if c.removePending(cl) {
			cl.complete(nil, ctxError(ctx, "async call", c.addr, sinceBase()))
		}
		return false
	}
	if err := c.w.send(ctx, cl.req, cl.opaque, 0, c.cfg.serialize, nil, alone); err != nil {
		if c.removePending(cl) {
			cl.complete(nil, err)
		}
		return false
	}
	return true
}

// InvokeOneway sends req with the oneway flag; the peer never answers. It returns once
// the request is queued for writing, or the error that stopped it; a request whose ctx
// has already ended is not sent. Requests queued but not yet written are bounded by
// Options.OnewayPermits; InvokeOneway waits for a permit until the deadline.
func (c *Conn) InvokeOneway(ctx context.Context, req *Command) error {
	return c.sendOneway(ctx, req, nil)
}

// InvokeOnewayAsync sends req with the oneway flag, as InvokeOneway does, and calls
// done, which may be nil, exactly once: with nil once the write to the socket that
// carried the request returned, or with why it was not written (no permit in time,
// the context's end, a frame too large, the connection's failure or close). A write
// error leaves unknown whether the peer got the request. done runs on the
// connection's writer goroutine after the write, on the goroutine that closes the
// connection, or, when the request was never queued, on the caller's before
// InvokeOnewayAsync returns. It must return quickly, as the writer writes nothing
// meanwhile, and must not call Close.
func (c *Conn) InvokeOnewayAsync(ctx context.Context, req *Command, done func(error)) {
	if err := c.sendOneway(ctx, req, done); err != nil && done != nil {
		done(err)
	}
}

// sendOneway queues req with the oneway flag; done, when not nil, is told of the
// write unless sendOneway fails.
func (c *Conn) sendOneway(ctx context.Context, req *Command, done func(error)) error {
	if err := notSent(ctx, "oneway call", c.addr); err != nil {
		return err
	}
	if err := c.beforeSend(req); err != nil {
		return err
	}
	if err := c.cfg.onewayPermits.acquire(ctx, c.cfg.timeout, c.closingCh, "Oneway"); err != nil {
		return err
	}
	if err := c.w.send(ctx, req, c.nextOpaque.Add(1), FlagOneway, c.cfg.serialize, done, false); err != nil {
		c.cfg.onewayPermits.release(1)
		return err
	}
	return nil
}

// notSent returns the error of a request whose context ended before it was sent, or
// nil: the caller no longer wants an outcome, so the peer must not run it.
func notSent(ctx context.Context, what, addr string) error {
	if ctx.Err() == nil {
		return nil
	}
	return ctxError(ctx, what, addr, sinceBase())
}

// beforeSend runs before a request this side sends: it refuses it when the peer
// said it is going away (a going-away notice, or a GO_AWAY answer), which takes
// nothing new on this connection, as not sent, so that a caller may send it
// elsewhere; then the hooks' BeforeRequest run.
func (c *Conn) beforeSend(req *Command) error {
	if c.goAway.Load() {
		return c.goingAwayError()
	}
	return runBeforeHooks(c, req)
}

// goingAwayError is the error of a request not sent because the peer is going away.
func (c *Conn) goingAwayError() error {
	return fmt.Errorf("%w: %s said so; send new requests on another connection", ErrGoingAway, c.addr)
}
