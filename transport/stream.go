package transport

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"unsafe"
)

// ErrStreamEnded reports a send on a stream that has ended cleanly: its acceptor
// answered the opening request, or, on the acceptor's side, its processor returned.
// A send after CloseSend reports it too.
var ErrStreamEnded = errors.New("transport: stream ended")

// errStreamClosed is why a stream its opener closed ended, for its opener.
var errStreamClosed = fmt.Errorf("transport: stream closed by its opener: %w", context.Canceled)

// Stream is one stream of messages in both directions on a connection, opened by one
// side with Conn.OpenStream and accepted by the other's processor, which finds it with
// Conn.InboundStream. Messages arrive in the order they were sent; each direction is
// flow controlled by credit: a side sends only as many messages as the other granted,
// and grants more as its consumer takes them, so a slow consumer blocks its producer
// and neither side buffers more than its window (docs/PROTOCOL.md, "Streams").
//
// The stream ends once, on its opener's side, with the acceptor's response to the
// opening request, Close, the end of the opener's context, or the connection's loss;
// on its acceptor's side when its processor returns, when the opener closes it or its
// context ends, when the processor ends it with CloseWithError (the processor's
// context ends in these two cases), or when the connection is lost.
//
// One goroutine may Send while another Recvs. Send and Recv return the error that
// ended the stream as soon as it ended, messages not yet taken dropped; after a clean
// end Recv returns the messages that came before it, then io.EOF.
type Stream struct {
	c         *Conn
	opener    bool
	serialize SerializeType
	ctx       context.Context // the opener's context, or the acceptor's processor context
	window    int32           // the messages this side buffers
	id        int32
	sid       string // id in decimal, for the frames

	ready    chan struct{} // opener: closed by the acceptor's first frame, or the end
	done     chan struct{} // closed once, when the stream ends
	recvWake chan struct{} // a token: the receiver looks again
	sendWake chan struct{} // a token: the sender looks again

	mem *byteBudget // MaxStreamMemory, which the messages in inbox hold

	recvMu sync.Mutex  // the consumer's; taken before mu
	local  msgQueue    // messages moved from inbox for the consumer to take
	taken  int32       // messages taken since the last grant; guarded by recvMu
	failed atomic.Bool // err is set: the consumer drops what it holds

	mu       sync.Mutex
	inbox    msgQueue // messages arrived and not moved to local
	split    [][]byte // the reader's scratch, for queueMessages; not guarded by mu
	recvSeq  int64
	granted  int32        // messages the peer may still send
	credit   atomic.Int64 // messages this side may still send; taken without mu
	stopped  atomic.Bool  // ended or sentEnd: Send takes the slow path
	inEnd    bool         // the peer sends no more messages
	sentEnd  bool
	readyOK  bool
	accepted bool     // opener: the acceptor's first frame arrived
	ending   bool     // finish has begun: err is set, and the end is under way
	ended    bool     // Recv and Send report the end, and err
	err      error    // why the stream failed; nil after a clean end
	resp     *Command // opener: the response that ended the stream
	stop     func() bool

	frameMu   sync.Mutex // orders the frames this side sends; guards what follows
	sendSeq   int64
	out       []byte // messages gathered for the next frame, each after its length
	outN      int
	outFirst  int64         // the number of out's first message
	outQueued bool          // the writer is to frame out
	outTaken  chan struct{} // a token: the writer framed out
	fields    []Field
	num       [3][20]byte

	cl         *call       // opener: the opening request's pending call
	rctx       *requestCtx // acceptor: the processor's context
	req        *Command    // acceptor: the opening request
	openCharge int64       // acceptor: what req's body holds of MaxFrameMemory
}

// streamMsg is a message received and not yet taken, with what it holds of
// MaxStreamMemory.
type streamMsg struct {
	body   []byte
	charge int64
}

func newStream(c *Conn, opener bool, window int32) *Stream {
	return &Stream{
		c: c, opener: opener, window: window, granted: window, mem: c.cfg.streams.mem,
		ready: make(chan struct{}), done: make(chan struct{}),
		recvWake: make(chan struct{}, 1), sendWake: make(chan struct{}, 1), outTaken: make(chan struct{}, 1),
	}
}

func (s *Stream) setID(id int32) {
	s.id = id
	s.sid = strconv.FormatInt(int64(id), 10)
}

// ID returns the stream's id: the opening request's opaque.
func (s *Stream) ID() int32 { return s.id }

// Done returns a channel closed when the stream ends.
func (s *Stream) Done() <-chan struct{} { return s.done }

// Ready returns a channel closed when the acceptor's first frame arrived, showing that
// it runs the stream, or when the stream ended before: then Response or Err says why.
// Only the opener's side has it; the acceptor's is closed.
func (s *Stream) Ready() <-chan struct{} { return s.ready }

// Accepted reports whether a frame of the acceptor's arrived: it runs the stream. A
// stream that ended before was refused, or lost with its connection.
func (s *Stream) Accepted() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.accepted || !s.opener
}

// Err returns why the stream failed, or nil while it runs and after a clean end.
func (s *Stream) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Response returns, on the opener's side, the acceptor's response that ended the
// stream, or nil.
func (s *Stream) Response() *Command {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.resp
}

// Recv returns the next message's body. It waits for one, and returns io.EOF once
// the peer sends no more (the opener's end, or the acceptor's response) and every
// message before was taken, or the error that ended the stream.
func (s *Stream) Recv() ([]byte, error) {
	for {
		s.recvMu.Lock()
		if s.local.len() > 0 && !s.failed.Load() {
			m := s.local.pop()
			grant := s.countTaken()
			s.recvMu.Unlock()
			s.mem.give(m.charge)
			if grant > 0 {
				s.sendCredit(grant)
			}
			return m.body, nil
		}
		// Every message that arrived moves to the consumer's queue at once: the
		// reader and the consumer meet on mu once per run of messages, not per message.
		dropped := s.local.clear() // none unless the stream failed
		s.mu.Lock()
		var err error
		if s.ended { // not before: the processor's context ends first
			err = s.err
		}
		more, end := s.inbox.len() > 0, s.inEnd || s.ended
		if err == nil && more {
			s.local.join(&s.inbox)
		}
		s.mu.Unlock()
		s.recvMu.Unlock()
		s.mem.give(dropped)
		switch {
		case err != nil:
			return nil, err
		case more:
			continue
		case end:
			return nil, io.EOF
		}
		select {
		case <-s.recvWake:
		case <-s.done:
		}
	}
}

// countTaken counts a message taken and returns the credit to grant now: half the
// window at a time, so that grants cost a frame per many messages. recvMu is held.
func (s *Stream) countTaken() int32 {
	s.taken++
	if s.taken < max(s.window/2, 1) {
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inEnd || s.ended {
		return 0
	}
	g := s.taken
	s.granted += g
	s.taken = 0
	return g
}

// dropLocked lets go of the messages not taken, and returns what they held of
// MaxStreamMemory. mu is held.
func (s *Stream) dropLocked() int64 { return s.inbox.clear() }

// drop lets go of the messages not taken; its callers ended the stream first.
func (s *Stream) drop() {
	s.recvMu.Lock()
	n := s.local.clear()
	s.recvMu.Unlock()
	s.mu.Lock()
	n += s.dropLocked()
	s.mu.Unlock()
	s.mem.give(n)
}

// Send sends one message. It waits until the peer has granted room for it, and
// returns the error that ended the stream, or ErrStreamEnded after a clean end or
// CloseSend. body is copied before Send returns: the caller may reuse it.
//
// Messages sent in a row travel together: Send gathers them, and the connection's
// writer frames what a stream gathered each time it writes, so that one frame carries
// every message sent since the last. A stream gathers at most streamBatch bytes; Send
// waits beyond that until the writer takes them, so a producer never runs ahead of
// its connection by more.
func (s *Stream) Send(body []byte) error {
	if limit := s.c.cfg.maxFrame - headerRoom; len(body) > limit {
		return fmt.Errorf("%w: a stream message of %d bytes: a frame may carry %d bytes (transport.ConnOptions.MaxFrameSize) of which a message may take %d: send smaller messages, or raise the limit on both peers", ErrFrameTooLarge, len(body), s.c.cfg.maxFrame, limit)
	}
	if err := s.takeCredit(); err != nil {
		return err
	}
	for {
		s.frameMu.Lock()
		if s.outN == 0 || len(s.out)+msgLenSize+len(body) <= min(streamBatch, s.c.cfg.maxFrame-headerRoom) {
			register := s.gatherLocked(body)
			s.frameMu.Unlock()
			if register {
				if err := s.c.w.queueStream(s); err != nil {
					// The writer takes nothing more: what was gathered is lost with
					// the connection, and the next Send tries the writer again.
					s.frameMu.Lock()
					s.outQueued = false
					s.clearOutLocked()
					s.frameMu.Unlock()
					return err
				}
			}
			return nil
		}
		s.frameMu.Unlock()
		select {
		case <-s.outTaken:
		case <-s.done:
			s.mu.Lock()
			defer s.mu.Unlock()
			return s.endedErrLocked()
		}
	}
}

// gatherLocked numbers a message and adds it to those the next frame carries. It
// reports whether the writer has yet to be told that the stream has messages to
// frame. frameMu is held.
func (s *Stream) gatherLocked(body []byte) (register bool) {
	s.sendSeq++
	if s.outN == 0 {
		s.outFirst = s.sendSeq
	}
	s.out = binary.BigEndian.AppendUint32(s.out, uint32(len(body)))
	s.out = append(s.out, body...)
	s.outN++
	register, s.outQueued = !s.outQueued, true
	return register
}

// clearOutLocked empties the gathered messages once framed, letting go of a buffer a
// large message made large. frameMu is held.
func (s *Stream) clearOutLocked() {
	s.out, s.outN = s.out[:0], 0
	if cap(s.out) > 2*streamBatch {
		s.out = nil
	}
}

// frameQueued frames the messages gathered since the last frame. The connection's
// writer calls it, for a stream that told it it had messages, before it writes.
func (s *Stream) frameQueued() {
	s.frameMu.Lock()
	s.outQueued = false
	var err error
	if s.outN > 0 {
		cmd := s.frameLocked(0, 0)
		err = s.c.w.appendStream(&cmd, s.c.nextOpaque.Add(1), s.serialize)
		s.clearOutLocked()
	}
	s.frameMu.Unlock()
	wake(s.outTaken)
	if err != nil {
		s.fail(err)
	}
}

// flush frames the messages gathered, if any, now: they go before what the caller
// queues next.
func (s *Stream) flush() {
	s.frameMu.Lock()
	defer s.frameMu.Unlock()
	if s.outN > 0 {
		if err := s.sendLocked(0, 0); err != nil && !s.c.isClosing() {
			s.c.cfg.log.Debug("transport: a stream's last messages were not sent", "peer", s.c.addr, "stream", s.id, "err", err)
		}
	}
}

// fail ends the stream with err, telling the acceptor when this side opened it.
func (s *Stream) fail(err error) {
	if s.opener {
		s.cancel(err)
	} else {
		s.finish(nil, err) // its processor's context ends
	}
}

// takeCredit takes the credit for one message, waiting for a grant when there is
// none. While the stream runs and has credit it takes no lock: a producer and its
// consumer on the same stream do not contend for mu per message.
func (s *Stream) takeCredit() error {
	if !s.stopped.Load() && s.takeOne() {
		return nil
	}
	for {
		s.mu.Lock()
		switch {
		case s.ended:
			err := s.endedErrLocked()
			s.mu.Unlock()
			return err
		case s.sentEnd:
			s.mu.Unlock()
			return fmt.Errorf("%w: sent after CloseSend", ErrStreamEnded)
		case s.takeOne():
			s.mu.Unlock()
			return nil
		}
		s.mu.Unlock()
		select {
		case <-s.sendWake:
		case <-s.done:
		}
	}
}

// takeOne takes one message's credit if there is some.
func (s *Stream) takeOne() bool {
	if s.credit.Add(-1) >= 0 {
		return true
	}
	s.credit.Add(1)
	return false
}

func (s *Stream) endedErrLocked() error {
	switch {
	case s.err != nil:
		return s.err
	case s.opener:
		return fmt.Errorf("%w: stream %d to %s was answered", ErrStreamEnded, s.id, s.c.addr)
	}
	return fmt.Errorf("%w: stream %d from %s: its processor returned", ErrStreamEnded, s.id, s.c.addr)
}

// CloseSend tells the acceptor that the opener sends no more messages; Recv still
// returns what comes. It does nothing on the acceptor's side, whose messages end with
// its response, nor once the opener's context ended, which resets the stream.
func (s *Stream) CloseSend() error {
	if !s.opener {
		return nil
	}
	s.mu.Lock()
	if s.sentEnd || s.ended {
		s.mu.Unlock()
		return nil
	}
	if err := s.ctx.Err(); err != nil {
		// The messages may have stopped because the context ended: that is no whole
		// input for the acceptor. The stream's watch of ctx resets it.
		s.mu.Unlock()
		return err
	}
	s.sentEnd = true
	s.stopped.Store(true)
	s.mu.Unlock()
	return s.sendFrame(streamEnd, 0)
}

// Close ends the stream on the opener's side, if it has not ended, and tells the
// acceptor, whose processor's context ends. It lets go of the messages not taken,
// which count toward MaxStreamMemory until then: an opener closes every stream it
// opened once done with it, even after its end. It does nothing on the acceptor's
// side, whose messages go when its processor returns.
func (s *Stream) Close() {
	if s.opener {
		s.CloseWithError(errStreamClosed)
	}
}

// CloseWithError is Close with err as the error Recv and Send return from now on.
// On the acceptor's side it ends the stream there, if it has not ended: Recv and
// Send return err, messages not taken are dropped, the processor's context ends, and
// what arrives for the stream is dropped. The opener learns of the end from the
// processor's response, written when it returns, which ends the stream on its side.
func (s *Stream) CloseWithError(err error) {
	if s.opener {
		s.cancel(err)
		s.drop()
		return
	}
	s.finish(nil, err)
}

// sendCredit grants the peer n more messages, best effort: a grant lost to a closing
// connection is lost with the stream.
func (s *Stream) sendCredit(n int32) {
	if err := s.sendFrame(0, n); err != nil && !s.c.isClosing() {
		s.c.cfg.log.Debug("transport: a stream's grant was not sent", "peer", s.c.addr, "stream", s.id, "err", err)
	}
}

// sendFrame queues a frame of the stream with the flags and credit given, and the
// messages gathered since the last frame, which must go before it. Stream frames
// never wait for room in the connection's output: what a stream queues besides its
// messages is bounded by the messages it receives, and a frame sent while holding
// frameMu must not wait for the writer, which takes frameMu to frame messages.
func (s *Stream) sendFrame(flags int, credit int32) error {
	s.frameMu.Lock()
	defer s.frameMu.Unlock()
	return s.sendLocked(flags, credit)
}

// sendLocked is sendFrame with frameMu held.
func (s *Stream) sendLocked(flags int, credit int32) error {
	cmd := s.frameLocked(flags, credit)
	// The frame is encoded before appendStream returns: the scratch may be reused.
	err := s.c.w.appendStream(&cmd, s.c.nextOpaque.Add(1), s.serialize)
	s.clearOutLocked()
	if err == nil {
		s.c.w.kick()
	}
	return err
}

// frameLocked returns the frame that carries the messages gathered, the flags and
// the credit given. Its fields and body are the stream's scratch: it is encoded
// before frameMu is let go. frameMu is held.
func (s *Stream) frameLocked(flags int, credit int32) Command {
	code := codeStreamUp
	if !s.opener {
		code = codeStreamDown
	}
	fs := append(s.fields[:0], Field{fieldStreamID, s.sid})
	var body []byte
	switch {
	case s.outN == 1:
		body = s.out[msgLenSize:] // one message travels alone, without its length
		fs = append(fs, Field{fieldStreamSeq, s.numString(0, s.outFirst)})
	case s.outN > 1:
		body = s.out
		fs = append(fs, Field{fieldStreamSeq, s.numString(0, s.outFirst)}, Field{fieldStreamCount, s.numString(2, int64(s.outN))})
	}
	if flags != 0 {
		fs = append(fs, Field{fieldStreamFlags, strconv.Itoa(flags)})
	}
	if credit > 0 {
		fs = append(fs, Field{fieldStreamCredit, s.numString(1, int64(credit))})
	}
	s.fields = fs[:0]
	return Command{Code: code, ExtFields: fs, Body: body}
}

// numString formats n in the i-th scratch buffer: the string lives until the next
// frame, which is long enough, as the frame is encoded before it is queued.
func (s *Stream) numString(i int, n int64) string {
	b := strconv.AppendInt(s.num[i][:0], n, 10)
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// receive applies a frame of the peer's, whose message holds charge of
// MaxStreamMemory: the stream keeps the message, or gives the charge back. It returns
// an error when the frame breaks the protocol: the stream then fails with it.
func (s *Stream) receive(f streamFrame, cmd *Command, charge int64) error {
	// The messages of a frame of several are queued before the lock is taken, and
	// joined to the inbox under it: the consumer waits on the lock for no split.
	var msgs msgQueue
	n := f.messages()
	if f.count > 0 {
		if err := s.queueMessages(&msgs, f, cmd.Body, charge); err != nil {
			s.mem.give(charge)
			return err
		}
	}
	s.mu.Lock()
	kept := false
	defer func() {
		s.mu.Unlock()
		if !kept {
			msgs.clear()
			s.mem.give(charge)
		}
	}()
	if s.ended {
		return nil
	}
	s.accepted = true
	s.markReadyLocked()
	if f.credit > 0 {
		if c := s.credit.Add(int64(f.credit)); c > maxStreamWindow {
			return fmt.Errorf("%w: stream %d: the peer granted %d messages, more than any window", ErrMalformedFrame, s.id, c)
		}
		wake(s.sendWake)
	}
	if n > 0 {
		if err := s.checkMessages(f, n); err != nil {
			return err
		}
		if f.count == 0 {
			s.inbox.push(streamMsg{cmd.Body, charge}) // the body alone: its own allocation
		} else {
			s.inbox.join(&msgs)
		}
		s.recvSeq, s.granted = f.seq+int64(n)-1, s.granted-n
		kept = true
		wake(s.recvWake)
	}
	if f.end() && !s.opener {
		s.inEnd = true
		wake(s.recvWake)
	}
	if f.expired() && !s.opener {
		return fmt.Errorf("transport: stream %d from %s: its opener's deadline passed: %w", s.id, s.c.addr, context.DeadlineExceeded)
	}
	if f.reset() && !s.opener {
		return fmt.Errorf("transport: stream %d from %s: its opener cancelled it: %w", s.id, s.c.addr, context.Canceled)
	}
	return nil
}

// checkMessages checks that the frame's n messages are the next ones and within the
// credit granted. mu is held.
func (s *Stream) checkMessages(f streamFrame, n int32) error {
	switch {
	case s.inEnd:
		return fmt.Errorf("%w: stream %d: message %d after the end", ErrMalformedFrame, s.id, f.seq)
	case f.seq != s.recvSeq+1:
		return fmt.Errorf("%w: stream %d: message %d where %d was due", ErrMalformedFrame, s.id, f.seq, s.recvSeq+1)
	case s.granted < n:
		return fmt.Errorf("%w: stream %d: messages %d to %d beyond the credit: %d left of a window of %d; send no more than the acceptor granted", ErrMalformedFrame, s.id, f.seq, f.seq+int64(n)-1, s.granted, s.window)
	}
	return nil
}

// queueMessages queues the messages of a frame of several into q, sharing charge
// among them. Only the connection's reader calls it.
func (s *Stream) queueMessages(q *msgQueue, f streamFrame, body []byte, charge int64) error {
	msgs, err := splitMessages(body, f.count, s.split[:0])
	defer func() {
		clear(msgs) // the scratch keeps no body alive
		s.split = msgs[:0]
	}()
	if err != nil {
		return fmt.Errorf("%w: stream %d: a frame of %d messages: %w", ErrMalformedFrame, s.id, f.count, err)
	}
	// The messages share the body, which lives until the last of them is taken: each
	// gives back its slot, and the last the body.
	for i, m := range msgs {
		part := charge
		if i < len(msgs)-1 {
			part = min(charge, streamSlot)
		}
		charge -= part
		q.push(streamMsg{m, part})
	}
	return nil
}

func (s *Stream) markReadyLocked() {
	if !s.readyOK {
		s.readyOK = true
		close(s.ready)
	}
}

func wake(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// finish ends the stream once, with the opener's response or why it failed, and
// reports whether this call ended it. Messages not taken are dropped when it failed.
func (s *Stream) finish(resp *Command, err error) bool {
	s.mu.Lock()
	if s.ending {
		s.mu.Unlock()
		return false
	}
	// A processor that stops when its context ends finds why in Err.
	s.ending, s.err = true, err
	s.mu.Unlock()
	if s.rctx != nil {
		// The processor's context ends before Recv and Send report the end: a
		// processor that stops on their error finds its context ended too, as
		// expired when the opener's deadline passed.
		how := uint32(ctxEnded)
		if errors.Is(err, context.DeadlineExceeded) {
			how |= ctxExpired
		}
		s.rctx.end(how)
	}
	s.mu.Lock()
	s.ended, s.resp = true, resp
	s.stopped.Store(true)
	if err != nil {
		s.failed.Store(true)
	}
	var dropped int64
	if err != nil {
		dropped = s.dropLocked()
	}
	s.mu.Unlock()
	if s.opener {
		// Out of the count before anyone learns that it ended: a caller that opens
		// another at once finds the room this one made.
		s.c.streams.removeOut(s, s.c.cfg.streams)
	}
	s.mu.Lock()
	s.markReadyLocked()
	stop := s.stop
	s.stop = nil
	s.mu.Unlock()
	s.mem.give(dropped)
	close(s.done)
	if stop != nil {
		stop()
	}
	return true
}

// cancel ends the opener's stream with why, if it has not ended, and sends the
// acceptor a reset: its processor's context ends. The response, if it comes, is
// dropped as any response that matches no call.
func (s *Stream) cancel(why error) {
	if !s.finish(nil, why) {
		return
	}
	if s.c.removePending(s.cl) {
		s.cl.complete(nil, why) // gives back the permit; the stream has ended already
	}
	s.sendReset()
}

// sendReset tells the acceptor that the opener abandoned the stream, and whether its
// deadline passed.
func (s *Stream) sendReset() {
	if s.c.isClosing() {
		return
	}
	flags := streamReset
	if deadlinePassed(s.ctx) {
		flags |= streamExpired
	}
	if err := s.sendFrame(flags, 0); err != nil && !s.c.isClosing() {
		s.c.cfg.log.Debug("transport: a stream's reset was not sent", "peer", s.c.addr, "stream", s.id, "err", err)
	}
}
