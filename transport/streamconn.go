package transport

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"unsafe"
)

// Defaults of the stream options. With them a stream a peer opens costs its
// acceptor about 8 KiB while it waits (its processor's goroutine, the stream, its
// context), so a Server's streams hold at most about 80 MiB, plus 64 MiB of messages
// not yet taken, however many peers open them (docs/OPERATIONS.md, "Streams").
const (
	// DefaultMaxConnStreams bounds the streams open on one connection, in each
	// direction: ten times the 100 that HTTP/2 asks a peer to allow at least.
	DefaultMaxConnStreams = 1000
	// DefaultMaxStreams bounds the streams open on all the connections of a Server
	// or Client, in each direction.
	DefaultMaxStreams = 10000
	// DefaultMaxStreamMemory bounds the bytes of stream messages received and not yet
	// taken, for a whole Server or Client.
	DefaultMaxStreamMemory = 64 << 20
	// DefaultStreamWindow is the messages a side of a stream buffers before its
	// consumer takes them: the credit it grants its peer.
	DefaultStreamWindow = 4096
)

// streamLimits is what an owner's streams may hold in all: MaxStreams in each
// direction, and MaxStreamMemory of messages not yet taken.
type streamLimits struct {
	max     int
	in, out atomic.Int64 // streams open, opened by peers and by this side
	mem     *byteBudget  // MaxStreamMemory
}

func newStreamLimits(max int, mem int64) *streamLimits {
	return &streamLimits{max: max, mem: newByteBudget(mem, "a stream message",
		"stream messages not yet taken (transport.ConnOptions.MaxStreamMemory): raise it, or have the streams' consumers take their messages")}
}

// enter counts a stream in n unless max are open.
func (l *streamLimits) enter(n *atomic.Int64) bool {
	if n.Add(1) > int64(l.max) {
		n.Add(-1)
		return false
	}
	return true
}

// streamCharge is what a received message of n bytes costs while it waits for its
// consumer: its body, which a stream's message has to itself (so that a message kept
// keeps nothing else alive: not the reader's slabs, nor its command), rounded up as
// the allocator rounds, and its place in the stream's inbox.
func streamCharge(n int) int64 {
	if n > maxSmallAlloc {
		return int64((n+pageSize-1)&^(pageSize-1)) + streamSlot // large objects take whole pages
	}
	return int64(n+n/8+16) + streamSlot // a size class wastes at most 16 bytes or an eighth
}

// streamSlot is what a message takes of its stream's inbox.
const streamSlot = int64(unsafe.Sizeof(streamMsg{}))

// frameCharge is streamCharge for a frame whose body of n bytes carries the messages
// its header counts: a slot in the inbox each. A count the body cannot hold fails
// when the frame is applied; until then it is charged as the most the body could hold.
func frameCharge(hdr *Command, n int) int64 {
	c := streamCharge(n)
	if v, ok := hdr.ExtFields.Lookup(fieldStreamCount); ok {
		if k, err := strconv.Atoi(v); err == nil {
			if k = min(k, n/msgLenSize); k > 1 {
				c += int64(k-1) * streamSlot
			}
		}
	}
	return c
}

// The allocator's largest size class, and the page size it rounds larger objects to.
const (
	maxSmallAlloc = 32 << 10
	pageSize      = 8 << 10
)

// readStreamMessage reads the body of a stream message, charged to MaxStreamMemory,
// and returns it with its charge. The reader waits for room first, reading nothing
// else: a peer cannot make its streams hold more than the budget.
func (c *Conn) readStreamMessage(br *bufio.Reader, hdr *Command, n int, in *interner) (*Command, int64, error) {
	mem := c.cfg.streams.mem
	charged, err := c.takeMemory(mem, frameCharge(hdr, n), c.cfg.streamMemWaits)
	if err != nil {
		return nil, 0, fmt.Errorf("%w: %w", errNoFrameMemory, err)
	}
	cmd, err := c.readMessageBody(br, hdr, n, in)
	if err != nil {
		mem.give(charged)
		return nil, 0, err
	}
	return cmd, charged, nil
}

// readMessageBody reads a stream message's body of n bytes into an allocation of its
// own, which is all its stream keeps; the command is carved as any other.
func (c *Conn) readMessageBody(br *bufio.Reader, hdr *Command, n int, in *interner) (*Command, error) {
	cmd := in.command(0)
	*cmd = *hdr
	if n > firstChunk {
		body, err := c.readPieces(br, n, nil)
		cmd.Body = body
		return cmd, err
	}
	cmd.Body = make([]byte, n)
	_, err := io.ReadFull(br, cmd.Body)
	return cmd, err
}

// streamTable holds a connection's open streams: those this side opened (out) and
// those its peer opened (in), by id. Ids are the opening requests' opaques, which each
// side chooses for its own requests, so the two directions have a table each.
type streamTable struct {
	mu     sync.Mutex
	out    map[int32]*Stream
	in     map[int32]*Stream
	closed bool // the reader exited: no inbound stream is added
}

// addOut adds s, which this side opens, unless max are open on the connection or
// l.max on all the owner's; it returns the limit that refused it.
func (t *streamTable) addOut(s *Stream, max int, l *streamLimits) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.out) >= max {
		return fmt.Errorf("%w: %d streams are open on the connection to %s (transport.ConnOptions.MaxConnStreams): end some, or raise it", ErrTooManyRequests, max, s.c.addr)
	}
	if !l.enter(&l.out) {
		return fmt.Errorf("%w: %d streams are open on all connections (transport.ConnOptions.MaxStreams): end some, or raise it", ErrTooManyRequests, l.max)
	}
	if t.out == nil {
		t.out = make(map[int32]*Stream)
	}
	t.out[s.id] = s
	return nil
}

func (t *streamTable) removeOut(s *Stream, l *streamLimits) {
	t.mu.Lock()
	if t.out[s.id] == s {
		delete(t.out, s.id)
		l.out.Add(-1)
	}
	t.mu.Unlock()
}

// addIn adds s, opened by the peer, unless max are open on the connection or l.max
// on all the owner's; when it cannot, it returns the refusal's code and text.
func (t *streamTable) addIn(s *Stream, max int, l *streamLimits) (int32, string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch {
	case t.closed:
		return CodeSystemError, "the connection is closing"
	case len(t.in) >= max:
		return CodeSystemBusy, fmt.Sprintf("[OVERLOAD]system busy: %d streams are open on this connection (transport.ConnOptions.MaxConnStreams): close the streams you are done with, or raise the acceptor's limit", max)
	case t.in[s.id] != nil:
		return CodeSystemError, fmt.Sprintf("stream %d is already open on this connection: a stream's opening request needs an opaque of its own", s.id)
	case !l.enter(&l.in):
		return CodeSystemBusy, fmt.Sprintf("[OVERLOAD]system busy: %d streams are open on all this peer's connections (transport.ConnOptions.MaxStreams): close the streams you are done with, or raise the acceptor's limit", l.max)
	}
	if t.in == nil {
		t.in = make(map[int32]*Stream)
	}
	t.in[s.id] = s
	return CodeSuccess, ""
}

func (t *streamTable) removeIn(s *Stream, l *streamLimits) {
	t.mu.Lock()
	if t.in[s.id] == s {
		delete(t.in, s.id)
		l.in.Add(-1)
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
	if err := c.beforeSend(req); err != nil {
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
	if _, err := c.addPending(s.cl); err != nil {
		s.cl.complete(nil, err)
		s.cl.sendDone(false)
		return nil, err
	}
	s.setID(s.cl.opaque)
	if err := c.streams.addOut(s, c.cfg.maxStreams, c.cfg.streams); err != nil {
		return nil, s.abandon(err)
	}
	if err := ctx.Err(); err != nil {
		return nil, s.abandon(ctxError(ctx, "stream", c.addr, sinceBase()))
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
	start := sinceBase()
	stop := context.AfterFunc(ctx, func() { s.cancel(ctxError(ctx, "stream", s.c.addr, start)) })
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
	s.serialize, s.req = req.Serialize, req
	s.credit.Store(int64(window))
	s.rctx = new(requestCtx)
	s.ctx = s.rctx
	s.markReadyLocked()
	if code, refusal := c.streams.addIn(s, c.cfg.maxStreams, c.cfg.streams); code != CodeSuccess {
		return nil, NewResponse(req, code, refusal)
	}
	return s, nil
}

// streamMessage applies a stream frame, in the reader: frames of one stream are taken
// in the order they came, without a worker. charge is what its message took of
// MaxStreamMemory: the stream keeps it until its consumer takes the message, and
// gives it back at once when it drops the frame.
func (c *Conn) streamMessage(req *Command, charge int64) {
	f, err := parseStreamFrame(req)
	if err != nil {
		c.cfg.streams.mem.give(charge)
		c.cfg.log.Warn("transport: dropping a malformed stream frame", "peer", c.addr, "err", err)
		return
	}
	s := c.streams.find(req.Code, f.id)
	if s == nil {
		c.cfg.streams.mem.give(charge)
		return // the stream ended, or never was: frames in flight are dropped
	}
	if err := s.receive(f, req, charge); err != nil {
		if s.opener {
			c.cfg.log.Warn("transport: cancelling a stream that broke the protocol", "peer", c.addr, "stream", f.id, "err", err)
		}
		s.fail(err)
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
	if c.flow.heldN.Load() > 0 {
		// A large opening body stays charged to MaxFrameMemory while its processor
		// runs, as a request's does until it is answered.
		s.openCharge = c.unhold(req)
	}
	go d.runStream(p, s)
	c.answered(req)
}

func (d *dispatcher) runStream(p Processor, s *Stream) {
	defer d.streamRoutines.Done()
	c, req := s.c, s.req
	s.sendCredit(s.window) // the opener may send: the stream is accepted
	resp := d.process(p, task{conn: c, req: req, ctx: s.rctx})
	s.flush() // before any response, whoever writes it and whenever
	c.respond(req, resp)
	s.finish(nil, nil)
	s.drop()
	c.streams.removeIn(s, c.cfg.streams)
	c.cfg.frames.give(s.openCharge)
	d.streamsOpen.Add(-1)
	d.end()
}
