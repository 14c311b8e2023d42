package transport

import (
	"context"
	"strconv"
)

// Request codes the transport answers itself, before any processor: ringrpc's
// extensions of the remoting protocol (docs/PROTOCOL.md). RocketMQ's own request codes
// that fit the int16 code of the ROCKETMQ header stay below 3600, so these collide
// with none of them.
const (
	// codePing asks the peer for any frame back; a ringrpc peer answers SUCCESS at once,
	// from its reader. It is not RocketMQ's HEART_BEAT (34), which a broker reads as a
	// client registration with a HeartbeatData body.
	codePing int32 = 7700
	// codeCancel is a oneway notice: the caller of the request whose opaque is in
	// fieldCancelOpaque stopped waiting, so its processor's context ends.
	codeCancel int32 = 7701
	// codeGoingAway is a notice: the sender is shutting down and will close the
	// connection once what is in flight is done; send it nothing new. Its answer,
	// marked with fieldDrained, comes after the last request the receiver sends.
	codeGoingAway int32 = 7702
)

// How far a peer got with this side's going-away notice (Conn.notice).
const (
	noticeUnsent   int32 = iota // not sent: the output was full, or no shutdown
	noticeSent                  // sent, not answered
	noticeAnswered              // answered by a peer that may still send requests
	noticeDone                  // answered, marked fieldDrained: the peer sends no more
)

// fieldDrained marks the answer to a going-away notice of a receiver that queues no
// request after it: an older one answered at once, with requests still to come.
const fieldDrained = "ringrpc.drained"

// fieldCancelOpaque is the extFields key of a cancel notice: the cancelled request's
// opaque, in decimal.
const fieldCancelOpaque = "ringrpc.opaque"

// fieldCancelExpired is "1" in the cancel notice of a caller whose deadline passed:
// the request's context ends with context.DeadlineExceeded, and a provider counts the
// request expired, though by its own clock, which started the deadline when the
// request arrived, a little of it may be left.
const fieldCancelExpired = "ringrpc.expired"

// noWait is an ended context: a send given it queues its frame if there is room, and
// fails at once instead of waiting for the writer.
var noWait = func() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}()

// isControl reports whether code is answered by the transport itself.
func isControl(code int32) bool {
	return code == codePing || code == codeCancel || code == codeGoingAway
}

// sendCancel tells the peer that the caller of the request with opaque stopped
// waiting. It is best effort and never waits: it is skipped when the connection is
// closing, when no oneway permit is free at once (the writer returns the permit of
// every oneway frame it writes), or when the write buffer is full. expired marks the
// notice of a caller whose deadline passed (fieldCancelExpired).
func (c *Conn) sendCancel(opaque int32, expired bool) {
	if c.isClosing() {
		return
	}
	f := Fields{{Key: fieldCancelOpaque, Value: strconv.FormatInt(int64(opaque), 10)}}
	if expired {
		f = append(f, Field{Key: fieldCancelExpired, Value: "1"})
	}
	c.notify(&Command{Code: codeCancel, ExtFields: f})
}

// deadlinePassed reports whether ctx ended at its deadline, with no cause of its own:
// the deadline a caller gives its request (ringrpc.timeout) is its context's. A
// context given a cause, as rpc gives an attempt's share of the deadline, was
// cancelled as far as the peer can tell.
func deadlinePassed(ctx context.Context) bool {
	return context.Cause(ctx) == context.DeadlineExceeded
}

// notify sends a oneway notice without waiting, when a oneway permit is free at once
// (the writer returns the permit of every oneway frame it writes) and the write
// buffer has room.
func (c *Conn) notify(n *Command) {
	if c.isClosing() || !c.cfg.onewayPermits.tryAcquire() {
		return
	}
	if err := c.send(noWait, n, c.nextOpaque.Add(1), FlagOneway, c.cfg.serialize); err != nil {
		c.cfg.onewayPermits.release(1)
	}
}

// allowNotice lets the peer's next cancel notice be looked at: it sent a request.
func (c *Conn) allowNotice() { c.flow.notices = min(c.flow.notices+1, c.cfg.maxConnInflight) }

// control answers a ping or applies a cancel or going-away notice, in the reader: neither waits for
// a worker, and neither passes through hooks or processors.
func (c *Conn) control(req *Command) {
	switch req.Code {
	case codePing:
		c.reply(req, NewResponse(req, CodeSuccess, ""))
		return
	case codeGoingAway:
		// Set under the writer's lock, which a request holds from its look at the
		// mark to its place in the queue: every request queued goes before the
		// answer, and none after it, so the answer tells the peer it has them all.
		c.w.mu.Lock()
		c.goAway.Store(true) // new calls take another connection
		c.w.mu.Unlock()
		resp := NewResponse(req, CodeSuccess, "")
		resp.ExtFields = Fields{{Key: fieldDrained, Value: "1"}}
		c.reply(req, resp)
		return
	}
	v, _ := req.ExtFields.Lookup(fieldCancelOpaque)
	opaque, err := strconv.ParseInt(v, 10, 32)
	if err != nil {
		c.cfg.log.Debug("transport: cancel notice without a valid opaque", "peer", c.addr, "value", v)
		c.reply(req, NewResponse(req, CodeSystemError, "cancel notice: "+fieldCancelOpaque+" must hold the cancelled request's opaque"))
		return
	}
	// A notice for a request that finished, or never came, finds nothing. A peer's
	// notices beyond its requests are not looked at.
	if c.flow.notices > 0 {
		c.flow.notices--
		expired, _ := req.ExtFields.Lookup(fieldCancelExpired)
		c.cancelInbound(int32(opaque), expired == "1")
	}
	c.reply(req, NewResponse(req, CodeSuccess, ""))
}

// ping asks the peer for a frame, without waiting, and reports whether the request was
// queued (it is not when the output is full or closing). Its answer matches no pending call
// and is dropped quietly: any frame at all proves the peer alive.
func (c *Conn) ping() (queued bool) {
	opaque := c.nextOpaque.Add(1)
	c.pingOpaque.Store(opaque)
	return c.send(noWait, &Command{Code: codePing}, opaque, 0, c.cfg.serialize) == nil
}

// sendGoingAway tells the peer, best effort and without waiting, that this side is
// shutting down: it stops sending new requests on the connection, and its answer
// comes after the last of them (noticeDone).
func (c *Conn) sendGoingAway() {
	opaque := c.nextOpaque.Add(1)
	c.goAwayOpaque.Store(opaque)
	c.notice.Store(noticeSent) // before the answer can come
	if c.send(noWait, &Command{Code: codeGoingAway}, opaque, 0, c.cfg.serialize) != nil {
		c.notice.Store(noticeUnsent)
	}
}
