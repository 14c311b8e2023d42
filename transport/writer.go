package transport

import (
	"context"
	"fmt"
	"net"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ringrpc/ringrpc/internal/sem"
)

// writer is the write side of a Conn. Senders encode their frames into one queue; the
// connection's writer goroutine takes the whole queue at once, writes it with one
// syscall, then settles what the batch owes. Under load one write carries many frames.
type writer struct {
	conn     *Conn
	wake     chan struct{} // holds a token when the queue wants looking at
	requests atomic.Bool   // requests (not responses) were queued since the loop last looked

	// full is set while the responses queued and being written exceed
	// MaxUnreadOutput: the reader then reads no more requests (Conn.waitRoom).
	full        atomic.Bool
	respWriting atomic.Int64 // bytes of responses in the write under way
	// backlog is set while the queue holds maxBufferedWrite bytes or more: a request
	// sent then waits for room (Conn.Congested).
	backlog atomic.Bool

	mu         sync.Mutex
	queue      batch
	respQueued int           // bytes of responses in queue
	lastTaken  int           // bytes of the batch the loop took last: the next one's first guess
	space      chan struct{} // closed when the queue is taken; nil while no sender waits for room
	streams    []*Stream     // streams with messages gathered for the loop to frame
	framing    []*Stream     // the loop's: the streams it frames now
	state      writerState
	err        error // draining: what closes the connection; closed: what senders are told

	// busy is set while the loop or a sender writes to the socket (direct.go), under
	// mu; missed, that the loop found it held and looks again once it is let go.
	// carry is what a sender's write left unwritten, from carryOff, for the loop to
	// write first. deadline is the socket's write deadline, in Unix nanoseconds.
	busy     atomic.Bool
	missed   bool
	carry    batch
	carryOff int
	deadline atomic.Int64
	direct   directWriter
	chunk    int  // the most one Write is given, 0 for all (writeChunk)
	probe    bool // the socket's send queue can be read (sendQueue): see write

	// lost is set, under mu, when the connection closed with frames unwritten: what
	// a flush cut short reports.
	lost bool
}

type writerState uint8

const (
	writerOpen     writerState = iota
	writerDraining             // refuses new frames, writes the queue, then closes the connection
	writerClosed
)

// batch is a run of encoded frames and what their write owes.
type batch struct {
	buf     []byte
	oneway  int           // oneway permits to release once buf is written
	written []func(error) // InvokeOnewayAsync's callbacks of frames in buf
}

func (w *writer) init(c *Conn) {
	w.conn, w.wake = c, make(chan struct{}, 1)
	w.direct.init(c.nc)
	w.chunk = writeChunk(c.nc)
	w.probe = w.chunk == 0 && sendQueue(c.nc) >= 0
}

func (w *writer) kick() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// send encodes cmd with the given opaque and flag bits at the end of the queue. A
// request waits while the queue is full; a response never waits, so that no worker
// waits for a peer: the reader stops reading requests instead (Conn.waitRoom), which
// bounds the responses to come. The caller's command is not modified. done, when
// not nil, is called once the write that carried the frame returned, or with why the
// frame was not written; it is not called when send fails, as nothing was queued.
// quiet says the frame is the only one its connection has reason to send now: it is
// written at once, by the sender, when the socket is free (direct.go).
func (w *writer) send(ctx context.Context, cmd *Command, opaque, flag int32, t SerializeType, done func(error), quiet bool) error {
	h := w.header(cmd, opaque, flag)
	for {
		w.mu.Lock()
		if w.state != writerOpen {
			err := w.refusedLocked()
			w.mu.Unlock()
			return err
		}
		if w.conn.goAway.Load() && flag&FlagResponse == 0 && !isControl(cmd.Code) {
			// The notice came after beforeSend looked: the peer's answer to it is
			// queued, and it takes no request after that.
			w.mu.Unlock()
			return w.conn.goingAwayError()
		}
		if flag&FlagResponse != 0 || len(w.queue.buf) < maxBufferedWrite {
			break
		}
		space := w.spaceLocked()
		w.mu.Unlock()
		if err := w.waitSpace(ctx, space); err != nil {
			return err
		}
	}
	before := len(w.queue.buf)
	err := w.appendLocked(&h, t, done)
	queued := len(w.queue.buf) > before // an error response may stand in for h
	if queued && quiet && w.canWriteDirect(before) {
		w.writeDirect() // unlocks
		return err
	}
	w.mu.Unlock()
	if queued {
		w.kick()
	}
	return err
}

// header returns a copy of cmd as this side sends it, with the opaque and flag bits
// given.
func (w *writer) header(cmd *Command, opaque, flag int32) Command {
	h := *cmd
	// Of the command's own bits only the stream's is sent, on a request: a processor
	// may answer with the request itself, whatever bits its peer set.
	h.Opaque, h.Flag = opaque, flag
	if flag&FlagResponse == 0 {
		h.Flag |= cmd.Flag & flagStream
	}
	h.Language, h.Version = LanguageGo, w.conn.cfg.version
	return h
}

// appendStream queues a frame of a stream, oneway. It never waits for room, and it
// holds no oneway permit: the stream's credit bounds its frames. A draining writer
// takes it still: Send accepted the messages before the drain, and the drain writes
// what was queued.
func (w *writer) appendStream(cmd *Command, opaque int32, t SerializeType) error {
	h := w.header(cmd, opaque, FlagOneway)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.state == writerClosed {
		return w.err
	}
	_, err := w.encodeLocked(&h, t)
	return err
}

// queueStream has the loop frame s's gathered messages before its next write.
func (w *writer) queueStream(s *Stream) error {
	w.mu.Lock()
	if w.state != writerOpen {
		err := w.refusedLocked()
		w.mu.Unlock()
		return err
	}
	w.streams = append(w.streams, s)
	w.mu.Unlock()
	if !w.requests.Load() {
		w.requests.Store(true) // a yield lets the stream's producer gather more
	}
	w.kick()
	return nil
}

// frameStreams frames the messages of the streams that gathered some. Only the loop
// calls it.
func (w *writer) frameStreams() {
	w.mu.Lock()
	w.framing, w.streams = w.streams, w.framing[:0]
	w.mu.Unlock()
	for i, s := range w.framing {
		s.frameQueued()
		w.framing[i] = nil
	}
}

// appendLocked queues h's frame and notes what its write will owe.
func (w *writer) appendLocked(h *Command, t SerializeType, done func(error)) error {
	size, err := w.encodeLocked(h, t)
	if err != nil {
		if h.Flag&FlagResponse != 0 {
			return w.refuseResponseLocked(h, t, size, err)
		}
		return err
	}
	if h.Flag&FlagOneway != 0 {
		w.queue.oneway++
	}
	if len(w.queue.buf) >= maxBufferedWrite && !w.backlog.Load() {
		w.backlog.Store(true)
	}
	if done != nil {
		w.queue.written = append(w.queue.written, done)
	}
	if h.Flag&FlagResponse != 0 {
		w.queuedResponse(size)
	} else if !w.requests.Load() {
		w.requests.Store(true)
	}
	return nil
}

// queuedResponse counts a response of size bytes queued, and marks the output full
// when the responses unread exceed MaxUnreadOutput. mu is held.
func (w *writer) queuedResponse(size int) {
	w.respQueued += size
	if !w.full.Load() && int64(w.respQueued)+w.respWriting.Load() > int64(w.conn.cfg.maxUnread) {
		w.full.Store(true)
	}
}

// written notes that the write under way returned, and lets the reader read again
// when the responses still queued are within bounds. A sender that marked the output
// full queued a frame, so the loop comes by again to clear it.
func (w *writer) written() {
	w.respWriting.Store(0)
	if !w.full.Load() {
		return
	}
	w.mu.Lock()
	clear := w.respQueued <= w.conn.cfg.maxUnread
	if clear {
		w.full.Store(false)
	}
	w.mu.Unlock()
	if clear {
		w.conn.wakeReader()
	}
}

// encodeLocked appends h's frame to the queue and returns its size. A frame that
// fails to encode or exceeds the limit leaves nothing behind.
func (w *writer) encodeLocked(h *Command, t SerializeType) (size int, err error) {
	before := len(w.queue.buf)
	room := headerRoom + len(h.Body)
	if before == 0 {
		// A busy connection's batches are alike; a batch of one huge frame is not
		// worth holding for the small ones after it.
		room = max(room, min(w.lastTaken, guessedBatch))
	}
	b, err := AppendFrame(growWrite(w.queue.buf, room), h, t)
	size = len(b) - before
	if err == nil && size > w.conn.cfg.maxFrame {
		err = fmt.Errorf("%w: %d bytes to send, the limit is %d (transport.ConnOptions.MaxFrameSize): send a smaller body", ErrFrameTooLarge, size, w.conn.cfg.maxFrame)
	}
	if err != nil {
		b = b[:before]
	}
	w.queue.buf = b
	return size, err
}

// refuseResponseLocked queues a SYSTEM_ERROR response in place of h, a response that
// could not be sent, so that its caller fails at once instead of at its deadline. It
// returns what went wrong, for the responder.
func (w *writer) refuseResponseLocked(h *Command, t SerializeType, size int, err error) error {
	var remark string
	if size > w.conn.cfg.maxFrame {
		remark = fmt.Sprintf("response of %d bytes exceeds the frame limit of %d bytes (transport.ConnOptions.MaxFrameSize): return less, or raise it on both peers", size, w.conn.cfg.maxFrame)
		err = fmt.Errorf("%w: %s; answered SYSTEM_ERROR instead", ErrFrameTooLarge, remark)
	} else {
		remark = "the response could not be encoded: " + err.Error()
		err = fmt.Errorf("transport: %s; answered SYSTEM_ERROR instead", remark)
	}
	resp := Command{Code: CodeSystemError, Language: h.Language, Version: h.Version, Opaque: h.Opaque, Flag: h.Flag, Remark: remark}
	n, e := w.encodeLocked(&resp, t)
	if e != nil {
		return fmt.Errorf("%w (and the error response failed too: %v)", err, e)
	}
	w.queuedResponse(n)
	return err
}

// refusedLocked is what a sender is told once the writer takes no more frames.
func (w *writer) refusedLocked() error {
	if w.state == writerDraining {
		return fmt.Errorf("%w: connection to %s is shutting down", ErrClosed, w.conn.addr)
	}
	return w.err
}

func (w *writer) refused() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.refusedLocked()
}

// hasOutput reports whether frames are queued or being written: a request answered
// a moment ago has its response here before the write that counts as activity.
func (w *writer) hasOutput() bool {
	if w.respWriting.Load() > 0 {
		return true
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.queue.buf) > 0
}

// spaceLocked returns the channel closed when the loop next takes the queue.
func (w *writer) spaceLocked() chan struct{} {
	if w.space == nil {
		w.space = make(chan struct{})
	}
	return w.space
}

// unsentNote says what a request's wait for room in the write queue means.
const unsentNote = "the request was not sent: the connection's write queue stayed full, as its peer read slowly or not at all"

// waitSpace waits for space to close, until the context's deadline or, without one,
// Options.Timeout.
func (w *writer) waitSpace(ctx context.Context, space <-chan struct{}) error {
	start := sinceBase()
	t := time.NewTimer(sem.WaitLimit(ctx, w.conn.cfg.timeout))
	defer t.Stop()
	select {
	case <-space:
		return nil // the queue was taken, or the writer closed: look again
	case <-t.C:
		return fmt.Errorf("%w; %s", &timeoutError{what: "write", addr: w.conn.addr, waited: sinceBase() - start}, unsentNote)
	case <-ctx.Done():
		return fmt.Errorf("%w; %s", ctxError(ctx, "write", w.conn.addr, start), unsentNote)
	}
}

// take swaps the queue for spare and frees the senders waiting for room. drain is
// the error to close with once the queue is written, when the writer is draining. It
// takes the socket (busy): ok is false when a sender holds it, and that sender kicks
// the loop when it is done. What a sender left unwritten comes first, alone, from off.
func (w *writer) take(spare batch) (b batch, off int, drain error, ok bool) {
	w.mu.Lock()
	if w.busy.Load() {
		w.missed = true
		w.mu.Unlock()
		return spare, 0, nil, false
	}
	w.busy.Store(true)
	if w.state == writerDraining {
		drain = w.err
	}
	if w.carry.buf != nil {
		b, off = w.carry, w.carryOff
		w.carry, w.carryOff = batch{}, 0
		w.mu.Unlock()
		w.kick() // the queue behind it
		return b, off, drain, true
	}
	space := w.space
	w.space = nil
	b = w.takeQueueLocked(spare)
	w.mu.Unlock()
	if space != nil {
		close(space)
	}
	return b, 0, drain, true
}

// takeQueueLocked swaps the queue for spare, and counts its responses as being
// written. busy and mu are held.
func (w *writer) takeQueueLocked(spare batch) batch {
	b := w.queue
	w.queue = spare
	if w.backlog.Load() {
		w.backlog.Store(false)
	}
	w.lastTaken = len(b.buf)
	w.respWriting.Store(int64(w.respQueued))
	w.respQueued = 0
	return b
}

// drain refuses new frames from now on and has the loop write what is queued, then
// close the connection with err.
func (w *writer) drain(err error) {
	w.mu.Lock()
	if w.state == writerOpen {
		w.state, w.err = writerDraining, err
	}
	w.mu.Unlock()
	w.kick()
}

// close refuses frames from now on with err and returns what was queued, for the
// caller to settle outside its locks.
func (w *writer) close(err error) batch {
	w.mu.Lock()
	b, space := w.queue, w.space
	if len(w.streams) > 0 || w.owes(b.buf) || w.carry.buf != nil && w.owes(w.carry.buf[w.carryOff:]) {
		w.lost = true
	}
	if w.carry.buf != nil { // it goes unwritten too: its frames are owed
		b.oneway += w.carry.oneway
		b.written = append(b.written, w.carry.written...)
		putWrite(w.carry.buf)
	}
	w.queue, w.space, w.streams, w.carry = batch{}, nil, nil, batch{}
	w.backlog.Store(false) // a request sent now fails at once
	w.state, w.err = writerClosed, err
	w.mu.Unlock()
	if space != nil {
		close(space)
	}
	return b
}

// run is the connection's writer goroutine. It writes the queue each time it is
// woken, until the connection closes or a write fails.
func (w *writer) run() {
	c := w.conn
	defer c.routines.Done()
	var spare batch
	for {
		select {
		case <-w.wake:
		case <-c.closingCh:
			return
		}
		// Let the callers that are runnable now add their requests, so that one write
		// carries many: under load this cuts syscalls several-fold. Responses need no
		// yield: the workers that queue them keep running until the queue of requests
		// is empty, so they batch by themselves, and a yield is not free (it wakes an
		// idle thread to look for work).
		if w.requests.Swap(false) {
			runtime.Gosched()
		}
		w.frameStreams()
		b, off, drain, ok := w.take(spare)
		if !ok {
			continue
		}
		if len(b.buf) > off {
			if left, err := w.write(b.buf[off:]); err != nil {
				w.busy.Store(false)
				w.failed(err, b.buf[len(b.buf)-left:])
				b.settle(c, w.refused())
				return
			}
		}
		w.written() // while the socket is held: respWriting is the holder's
		w.busy.Store(false)
		b.settle(c, nil)
		if drain != nil {
			if len(b.buf) == 0 {
				c.closeWithError(drain)
				return
			}
			w.kick() // one more round to see the queue empty
		}
		spare = b.reset()
	}
}

// failed closes the connection after a write failed with err, left unwritten. A
// peer that took none of its output for WriteTimeout is named in the log: it is the
// one connection that pays for it.
func (w *writer) failed(err error, left []byte) {
	c := w.conn
	if c.isClosing() {
		w.lose(left)
		return
	}
	if isTimeout(err) {
		w.mu.Lock()
		unread := len(left) + len(w.queue.buf)
		w.mu.Unlock()
		err = fmt.Errorf("the peer did not read what was sent to it for %v (transport.ConnOptions.WriteTimeout): %w", c.cfg.writeTimeout, err)
		c.cfg.log.Warn("transport: closing connection: the peer did not read its output", "peer", c.addr, "unread", unread, "timeout", c.cfg.writeTimeout)
	}
	c.closeWithError(c.lostError(fmt.Errorf("write: %w", err)))
}

// write writes buf and returns how much of it was left unwritten. WriteTimeout bounds
// the time the peer takes nothing, not the whole write: a write that timed out having
// made progress goes on with a new deadline, so a peer that reads slowly but steadily
// keeps its connection. The socket wakes a blocked write only once its unsent bytes
// fall below half the bound limitUnsent set, so a peer that takes a little at a time
// can go on taking bytes without waking it: where the kernel tells the socket's send
// queue (probe), the write looks at it every quarter of WriteTimeout, and a queue that
// fell is progress too. A write that completes at once costs one deadline, as before.
func (w *writer) write(buf []byte) (left int, err error) {
	timeout := w.conn.cfg.writeTimeout
	step := timeout
	if w.probe {
		step = max(timeout/4, time.Millisecond)
	}
	now := time.Now()
	took, queued := now, -1 // when the peer last took bytes, and the send queue then
	for {
		w.setDeadline(now, step)
		part := buf
		if w.chunk > 0 && len(part) > w.chunk {
			part = part[:w.chunk]
		}
		n, err := w.conn.nc.Write(part)
		w.wrote(n, now)
		buf = buf[n:]
		// TLS (chunk > 0) fails every write after one that timed out: that is the end.
		if len(buf) == 0 || err != nil && (!isTimeout(err) || w.chunk > 0) {
			return len(buf), err
		}
		now = time.Now()
		q := -1
		if w.probe {
			q = sendQueue(w.conn.nc)
		}
		if n > 0 || q >= 0 && queued >= 0 && q < queued {
			took = now
		}
		queued = q
		if now.Sub(took) >= timeout {
			return len(buf), err
		}
	}
}

// tlsRecord is the most plaintext a TLS record holds.
const tlsRecord = 16 << 10

// writeChunk returns how much of a write to hand nc at once: all of it (0) for a
// socket, which takes up a write that timed out where it stopped; a TLS record for
// anything else, as TLS fails every write after one that timed out: each record then
// has WriteTimeout to itself, and a peer that takes nothing of one still fails it.
func writeChunk(nc net.Conn) int {
	switch nc.(type) {
	case *net.TCPConn, *net.UnixConn:
		return 0
	}
	return tlsRecord
}

// wrote counts n bytes written to the socket by a write that began at now.
func (w *writer) wrote(n int, now time.Time) {
	w.conn.cfg.io.written.Add(uint64(n))
	w.conn.lastWrite.Store(now.UnixNano())
}

// setDeadline gives the socket's writes d from now.
func (w *writer) setDeadline(now time.Time, d time.Duration) {
	at := now.Add(d)
	w.conn.nc.SetWriteDeadline(at)
	w.deadline.Store(at.UnixNano())
}

// lose notes that buf went unwritten as the connection closed.
func (w *writer) lose(buf []byte) {
	if w.owes(buf) {
		w.mu.Lock()
		w.lost = true
		w.mu.Unlock()
	}
}

// owes reports whether buf, frames left unwritten, holds any but this side's own
// pings and notices, which nobody misses once the connection is closed: a
// going-away notice, queued by the shutdown that closes it, is not output cut short.
// A frame begun and not whole counts. Only a closing connection calls it.
func (w *writer) owes(buf []byte) bool {
	for len(buf) > 0 {
		c, n, err := ParseFrame(buf, w.conn.cfg.maxFrame)
		if err != nil || c.Flag&FlagResponse != 0 || c.Code != codeGoingAway && c.Code != codeCancel && c.Code != codePing {
			return true
		}
		buf = buf[n:]
	}
	return false
}

// lostOutput reports whether the connection closed with frames unwritten.
func (w *writer) lostOutput() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.lost
}

// settle pays what the batch owes once its write returned, or failed with err.
func (b *batch) settle(c *Conn, err error) {
	c.cfg.onewayPermits.release(b.oneway)
	for _, done := range b.written {
		done(err)
	}
}

// reset empties b for reuse. Its buffer goes back to the pools: the next batch takes
// one when its first frame comes.
func (b batch) reset() batch {
	clear(b.written)
	putWrite(b.buf)
	b.buf, b.oneway, b.written = nil, 0, b.written[:0]
	return b
}

// send queues cmd for writing with the given opaque and flag bits; see writer.send.
func (c *Conn) send(ctx context.Context, cmd *Command, opaque, flag int32, t SerializeType) error {
	return c.w.send(ctx, cmd, opaque, flag, t, nil, false)
}

// closeGraceful lets the writer flush what is queued, then closes the connection with
// err; the connection takes no new frames meanwhile.
func (c *Conn) closeGraceful(err error) { c.w.drain(err) }

// flushAndClose has every connection write what is queued, then close with err. It
// waits until limit has passed or ctx ends, then closes the connections still writing
// at once and says so, if any of them had frames left unwritten: a connection with
// nothing left loses nothing by being closed a moment before it would have closed.
func flushAndClose(ctx context.Context, conns []*Conn, err error, limit time.Duration) error {
	for _, c := range conns {
		c.closeGraceful(err)
	}
	t := time.NewTimer(limit)
	defer t.Stop()
	for i, c := range conns {
		select {
		case <-c.exited:
			continue
		case <-t.C:
		case <-ctx.Done():
		}
		rest := conns[i:]
		for _, c := range rest {
			c.closeWithError(err)
		}
		for _, c := range rest {
			<-c.exited
		}
		return flushCut(ctx, rest, limit)
	}
	return nil
}

// flushCut says which connection a flush closed with frames unwritten, and why, or
// returns nil when none of conns, all closed, had any left.
func flushCut(ctx context.Context, conns []*Conn, limit time.Duration) error {
	i := slices.IndexFunc(conns, func(c *Conn) bool { return c.w.lostOutput() })
	if i < 0 {
		return nil
	}
	addr := conns[i].addr
	if ctx.Err() != nil {
		return fmt.Errorf("transport: flushing what is queued for %s cut short: %w: give Shutdown or Close a context with more time to write what is queued", addr, context.Cause(ctx))
	}
	return fmt.Errorf("transport: %s did not take the frames queued for it within %v: closed with them unwritten; the peer reads slowly or not at all, and nothing more can be done for it here", addr, limit)
}
