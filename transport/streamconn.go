package transport

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"
)

// Defaults of the stream options.
const (
	// DefaultMaxConnStreams bounds the streams open on one connection, in each
	// direction.
	DefaultMaxConnStreams = 10000
	// DefaultStreamWindow is the messages a side of a stream buffers before its
	// consumer takes them: the credit it grants its peer.
	DefaultStreamWindow = 64
)

// streamTable holds a connection's open streams: those this side opened (out) and
// those its peer opened (in), by id. Ids are the opening requests' opaques, which each
// side chooses for its own requests, so the two directions have a table each.
type streamTable struct {
	mu     sync.Mutex
	out    map[int32]*Stream
	in     map[int32]*Stream
	closed bool // the reader exited: no inbound stream is added
}

// addOut adds s, which this side opens, unless max are open.
func (t *streamTable) addOut(s *Stream, max int) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.out) >= max {
		return false
	}
	if t.out == nil {
		t.out = make(map[int32]*Stream)
	}
	t.out[s.id] = s
	return true
}

func (t *streamTable) removeOut(s *Stream) {
	t.mu.Lock()
	if t.out[s.id] == s {
		delete(t.out, s.id)
	}
	t.mu.Unlock()
}

// addIn adds s, opened by the peer; when it cannot, it returns the refusal's code
// and text.
func (t *streamTable) addIn(s *Stream, max int) (int32, string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch {
	case t.closed:
		return CodeSystemError, "the connection is closing"
	case len(t.in) >= max:
		return CodeSystemBusy, fmt.Sprintf("[OVERLOAD]system busy: %d streams are open on this connection (transport.ConnOptions.MaxConnStreams)", max)
	case t.in[s.id] != nil:
		return CodeSystemError, fmt.Sprintf("stream %d is already open on this connection: a stream's opening request needs an opaque of its own", s.id)
	}
	if t.in == nil {
		t.in = make(map[int32]*Stream)
	}
	t.in[s.id] = s
	return CodeSuccess, ""
}

func (t *streamTable) removeIn(s *Stream) {
	t.mu.Lock()
	if t.in[s.id] == s {
		delete(t.in, s.id)
	}
	t.mu.Unlock()
}

func (t *streamTable) find(code, id int32) *Stream {
	t.mu.Lock()
	defer t.mu.Unlock()
	if code == codeStreamUp {
		return t.in[id]
	}
	return t.out[id]
}

// closeIn refuses new inbound streams and returns those open.
func (t *streamTable) closeIn() []*Stream {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closed = true
	all := make([]*Stream, 0, len(t.in))
	for _, s := range t.in {
		all = append(all, s)
	}
	return all
}

// OpenStreams returns the number of streams open on the connection: those this side
// opened and those its peer opened.
func (c *Conn) OpenStreams() int {
	c.streams.mu.Lock()
	defer c.streams.mu.Unlock()
	return len(c.streams.out) + len(c.streams.in)
}

// OpenStream opens a stream by sending req, the opening request, which the peer's
// processor for req's code handles for as long as the stream lasts; its response
// ends the stream. The stream ends early when ctx ends: the peer's processor's context
// then ends too. req is not modified.
//
// OpenStream returns once req is queued. Until the peer's first frame arrives (Ready),
// the peer may still refuse the stream, with a response that ends it. At most
// ConnOptions.MaxConnStreams streams this side opened are open on a connection at
// once; OpenStream fails with ErrTooManyRequests beyond. Each holds an async permit
// until it ends.
func (c *Conn) OpenStream(ctx context.Context, req *Command) (*Stream, error) {
	if err := runBeforeHooks(c, req); err != nil {
		return nil, err
	}
	if err := c.cfg.asyncPermits.acquire(ctx, c.cfg.timeout, c.closingCh, "Async"); err != nil {
		return nil, err
	}
	s := newStream(c, true, c.cfg.streamWindow)
	s.serialize, s.ctx = c.cfg.serialize, ctx
	open := *req
	open.Flag |= flagStream
	open.ExtFields = append(slices.Clip(req.ExtFields), Field{fieldStreamWindow, strconv.Itoa(int(s.window))})
	s.cl = &call{cb: s.answered, conn: c, req: &open}
	if err := c.addPending(s.cl); err != nil {
		s.cl.complete(nil, err)
		s.cl.sendDone(false)
		return nil, err
	}
	s.setID(s.cl.opaque)
	if !c.streams.addOut(s, c.cfg.maxStreams) {
		err := fmt.Errorf("%w: %d streams are open on the connection to %s (transport.ConnOptions.MaxConnStreams): end some, or raise it", ErrTooManyRequests, c.cfg.maxStreams, c.addr)
		return nil, s.abandon(err)
	}
	if err := ctx.Err(); err != nil {
		return nil, s.abandon(ctxError(ctx, "stream", c.addr, time.Now()))
	}
	if err := c.send(ctx, &open, s.id, 0, s.serialize); err != nil {
		return nil, s.abandon(err)
	}
	s.cl.sendDone(true)
	s.watch(ctx)
	return s, nil
}

// abandon ends a stream whose opening request was not sent, and returns err.
func (s *Stream) abandon(err error) error {
	s.finish(nil, err)
	if s.c.removePending(s.cl) {
		s.cl.complete(nil, err)
	}
	s.cl.sendDone(false)
	return err
}

// watch ends the stream when ctx ends.
func (s *Stream) watch(ctx context.Context) {
	if ctx.Done() == nil {
		return
	}
	start := time.Now()
	stop := context.AfterFunc(ctx, func() { s.cancel(ctxError(ctx, "stream", s.c.addr, start), true) })
	s.mu.Lock()
	if !s.ended {
		s.stop, stop = stop, nil
	}
	s.mu.Unlock()
	if stop != nil {
		stop()
	}
}

// answered is the opening call's completion: the acceptor's response, or the
// connection's failure, ends the stream.
func (s *Stream) answered(resp *Command, err error) { s.finish(resp, err) }

// InboundStream returns the stream that req, a request the peer sent on c, opened, or
// nil when req opens none. A processor calls it for the request it handles; the
// stream lasts until the processor returns.
func (c *Conn) InboundStream(req *Command) *Stream {
	if req.Flag&flagStream == 0 || req.IsResponse() {
		return nil
	}
	s := c.streams.find(codeStreamUp, req.Opaque)
	if s == nil || s.req != req {
		return nil
	}
	return s
}

// acceptStream registers the stream req opens, from the reader, so that the frames
// that follow req find it; it returns the response that refuses it instead when it
// cannot.
func (c *Conn) acceptStream(req *Command) (*Stream, *Command) {
	window, err := parseWindow(req)
	if err != nil {
		return nil, NewResponse(req, CodeSystemError, err.Error())
	}
	s := newStream(c, false, c.cfg.streamWindow)
	s.setID(req.Opaque)
	s.serialize, s.req, s.credit = req.Serialize, req, int64(window)
	s.rctx = new(requestCtx)
	s.ctx = s.rctx
	s.markReadyLocked()
	if code, refusal := c.streams.addIn(s, c.cfg.maxStreams); code != CodeSuccess {
		return nil, NewResponse(req, code, refusal)
	}
	return s, nil
}

// streamFrame applies a stream frame, in the reader: frames of one stream are taken
// in the order they came, without a worker.
func (c *Conn) streamFrame(req *Command) {
	defer c.answered(req)
	f, err := parseStreamFrame(req)
	if err != nil {
		c.cfg.log.Warn("transport: dropping a malformed stream frame", "peer", c.addr, "err", err)
		return
	}
	s := c.streams.find(req.Code, f.id)
	if s == nil {
		return // the stream ended, or never was: frames in flight are dropped
	}
	if err := s.receive(f, req); err != nil {
		if s.opener {
			c.cfg.log.Warn("transport: cancelling a stream that broke the protocol", "peer", c.addr, "stream", f.id, "err", err)
			s.cancel(err, false)
		} else {
			s.finish(nil, err) // its processor's context ends
		}
	}
}

// endStreams fails the streams the peer opened: the connection is closing. The
// streams this side opened end with their opening calls.
func (c *Conn) endStreams() {
	err := c.Err()
	if err == nil {
		err = ErrClosed
	}
	for _, s := range c.streams.closeIn() {
		s.finish(nil, c.lostError(err))
	}
}

// startStream runs the processor of a request that opens a stream on a goroutine of
// its own, which holds no worker: a stream may last as long as its peer wants. The
// request counts as in flight for Shutdown until the processor returns, but not
// toward the limits on requests in flight.
func (d *dispatcher) startStream(c *Conn, p Processor, req *Command) {
	s, refusal := c.acceptStream(req)
	if s == nil {
		d.end()
		c.reply(req, refusal)
		return
	}
	d.streamsOpen.Add(1)
	d.streamRoutines.Add(1)
	go d.runStream(p, s)
	c.answered(req)
}

func (d *dispatcher) runStream(p Processor, s *Stream) {
	defer d.streamRoutines.Done()
	c, req := s.c, s.req
	s.sendCredit(s.window) // the opener may send: the stream is accepted
	resp := d.process(p, task{conn: c, req: req, ctx: s.rctx})
	c.respond(req, resp)
	s.finish(nil, nil)
	c.streams.removeIn(s)
	d.streamsOpen.Add(-1)
	d.end()
}
