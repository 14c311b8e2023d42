package transport

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Conn is one connection between two peers, on the client or the server side. Either
// side may send requests on it; responses find their caller by opaque. A Conn is safe
// for use by many goroutines at once.
type Conn struct {
	nc   net.Conn
	cfg  *connConfig
	disp *dispatcher
	addr string // the peer's address, for errors and hooks
	w    writer

	nextOpaque  atomic.Int32
	lastWrite   atomic.Int64 // unix nanoseconds of the last socket write; the writer sets it
	goAway      atomic.Bool  // the peer answered GO_AWAY: send it nothing new
	closingFlag atomic.Bool  // set as closingCh closes: cheaper to ask on every call

	pmu     sync.Mutex
	pending pendingTable
	reaping bool          // the reaper is ticking; guarded by pmu
	ticks   atomic.Int64  // reaper ticks so far: the clock of call expiries
	reapNow chan struct{} // wakes the reaper when a call with an expiry arrives

	closingCh chan struct{} // closed once, when the connection starts to close
	exited    chan struct{} // closed when the reader and writer have exited
	err       error         // why the connection closed; set before closingCh is closed
	once      sync.Once
	onClose   func(*Conn)
	routines  sync.WaitGroup

	lastRead   atomic.Int64  // sinceBase when the last read that brought bytes returned
	memWait    atomic.Bool   // the reader waits for memory, reading nothing: see takeMemory
	frameAt    time.Duration // the reader's: since clockBase, when the frame it reads began to arrive; 0 before
	pingOpaque atomic.Int32  // the last ping's opaque: its answer is dropped quietly
	// goAwayOpaque is the opaque of this side's going-away notice, and notice how
	// far the peer got with it (noticeUnsent...).
	goAwayOpaque atomic.Int32
	notice       atomic.Int32
	silence      silence // the heartbeat's watch; the reaper's alone

	// overdue is set once a draining server gave the peer maxGoAwayWait to stop
	// sending: its oneway requests are turned away from then on, as its calls are, so
	// that a peer that goes on sending them cannot hold the connection open.
	overdue atomic.Bool

	flow flow // what the reader waits on before reading from a peer that costs too much

	streams streamTable
}

func newConn(nc net.Conn, cfg *connConfig, disp *dispatcher, onClose func(*Conn)) *Conn {
	c := &Conn{
		nc:        nc,
		cfg:       cfg,
		disp:      disp,
		addr:      nc.RemoteAddr().String(),
		reapNow:   make(chan struct{}, 1),
		closingCh: make(chan struct{}),
		exited:    make(chan struct{}),
		onClose:   onClose,
	}
	limitUnsent(nc, cfg.maxUnread)
	c.w.init(c)
	c.flow.resume = make(chan struct{}, 1)
	c.lastWrite.Store(time.Now().UnixNano())
	c.silence.since = sinceBase()
	c.routines.Add(2)
	go c.readLoop()
	go c.w.run()
	go c.supervise()
	return c
}

// RemoteAddr returns the peer's address.
func (c *Conn) RemoteAddr() net.Addr { return c.nc.RemoteAddr() }

// Peer returns the peer's address as text, computed once per connection.
func (c *Conn) Peer() string { return c.addr }

// LocalAddr returns this end's address.
func (c *Conn) LocalAddr() net.Addr { return c.nc.LocalAddr() }

// Closed returns a channel that is closed when the connection starts closing.
func (c *Conn) Closed() <-chan struct{} { return c.closingCh }

func (c *Conn) isClosing() bool { return c.closingFlag.Load() }

// usable reports whether new calls may use the connection.
func (c *Conn) usable() bool { return !c.isClosing() && !c.goAway.Load() }

// Err returns why the connection closed, or nil while it is open.
func (c *Conn) Err() error {
	select {
	case <-c.closingCh:
		return c.err
	default:
		return nil
	}
}

// Close closes the connection at once: frames queued and not yet written are dropped,
// and calls pending on it fail with ErrClosed. It waits for the connection's goroutines
// to exit. Client.Close and Server.Shutdown flush each connection first.
func (c *Conn) Close() error {
	c.closeWithError(ErrClosed)
	<-c.exited
	return nil
}

// closeWithError closes the connection once and fails every pending call with err.
func (c *Conn) closeWithError(err error) {
	var pending []*call
	var queued batch
	first := false
	c.once.Do(func() {
		first = true
		c.err = err
		c.closingFlag.Store(true)
		close(c.closingCh)
		c.nc.Close()
		c.pmu.Lock()
		pending = c.pending.close()
		c.pmu.Unlock()
		queued = c.w.close(c.lostError(err))
	})
	if !first {
		return
	}
	// Outside once: a callback may close the connection again without deadlock.
	queued.settle(c, c.lostError(err))
	for _, cl := range pending {
		cl.complete(nil, err)
	}
	if c.onClose != nil {
		c.onClose(c)
	}
}

func (c *Conn) lostError(err error) error {
	if errors.Is(err, ErrClosed) || errors.Is(err, ErrConnectionLost) {
		return err // says it already, with the address
	}
	return fmt.Errorf("%w: %s: %w", ErrConnectionLost, c.addr, err)
}

// ---- reading ----

// idleReader sets the read deadline before each read from the socket, so a silent
// peer cannot hold the connection forever, and forgives the deadline while this side
// is still writing or calls wait in either direction (a peer that dies meanwhile is the
// heartbeat's to find).
// It also notes when each read returned: the arrival time of the frames it brought.
type idleReader struct {
	c        *Conn
	readAt   time.Duration // since clockBase
	deadline time.Time     // the read deadline it set last
	watching bool          // the reader reads ahead while it waits for room: see reader.watch
}

func (r *idleReader) Read(p []byte) (int, error) {
	idle := r.c.cfg.idle
	for {
		if !r.watching {
			r.deadline = time.Now().Add(idle)
			if at := r.c.frameAt; at != 0 {
				if by := clockBase.Add(at + idle); by.Before(r.deadline) {
					r.deadline = by
				}
			}
			r.c.nc.SetReadDeadline(r.deadline)
		}
		n, err := r.c.nc.Read(p)
		if n > 0 {
			r.c.cfg.io.read.Add(uint64(n))
			r.readAt = sinceBase()
			r.c.lastRead.Store(int64(r.readAt))
			if r.c.frameAt == 0 && !r.watching {
				r.c.frameAt = r.readAt
			}
		}
		if n == 0 && err != nil && isTimeout(err) {
			if time.Now().Before(r.deadline) {
				// wakeReader moved the deadline to end a read ahead, maybe one that
				// has already ended.
				if r.watching {
					return 0, errWoken
				}
				continue
			}
			if at := r.c.frameAt; at != 0 && !r.watching && sinceBase() >= at+idle {
				// Forgiven for nothing: a peer that sends a byte now and then would
				// hold the connection, and what the frame has taken of the budget.
				return 0, fmt.Errorf("a frame began to arrive over %v ago and is not whole yet (transport.ConnOptions.IdleTimeout)", idle)
			}
			if time.Since(time.Unix(0, r.c.lastWrite.Load())) < idle || r.c.busy() {
				if r.watching && !r.rearm() {
					return 0, errWoken
				}
				continue
			}
			return 0, fmt.Errorf("no frame read or written for %v (transport.ConnOptions.IdleTimeout)", idle)
		}
		return n, err
	}
}

// rearm sets a new deadline for a read ahead, and reports false when the reader was
// woken meanwhile: wakeReader's deadline may have come before this one.
func (r *idleReader) rearm() bool {
	r.deadline = time.Now().Add(r.c.cfg.idle)
	r.c.nc.SetReadDeadline(r.deadline)
	return r.c.flow.watch.Load() == watchOn
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func (c *Conn) readFailed(err error) {
	select {
	case <-c.closingCh:
		return // closed on purpose; the read error is a consequence
	default:
	}
	if errors.Is(err, ErrMalformedFrame) || errors.Is(err, ErrFrameTooLarge) {
		c.cfg.log.Error("transport: closing connection after a bad frame", "peer", c.addr, "err", err)
	} else if errors.Is(err, errNoFrameMemory) {
		c.cfg.log.Warn("transport: closing connection: no memory for its next frame", "peer", c.addr, "err", err)
	} else if !errors.Is(err, io.EOF) {
		c.cfg.log.Warn("transport: connection read failed", "peer", c.addr, "err", err)
	}
	if c.goAway.Load() && peerClosed(err) {
		// The peer's graceful shutdown cut it short: not a crash, for the callers.
		err = fmt.Errorf("the peer shut down (it had sent a going-away notice or answered GO_AWAY) and closed the connection before answering all: %w", err)
	}
	c.closeWithError(c.lostError(err))
}

// peerClosed reports whether a read failed because the peer closed the connection,
// rather than for what this side read or for want of it.
func peerClosed(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET)
}

// readFrame reads one frame, and returns with it what it took of MaxFrameMemory, or
// of MaxStreamMemory for a stream's message. The header is decoded where it lies in
// the reader's buffer; a small frame's command and body come from the interner's
// slabs, or from a command given back.
func (c *Conn) readFrame(br *bufio.Reader, in *interner) (*Command, int64, error) {
	var hdr Command
	var fh frameHold
	body, err := c.readHeader(br, &in, &hdr, &fh)
	if err == nil && isStreamFrame(hdr.Code) && !hdr.IsResponse() {
		// The header is read: nothing of it is kept, and what the reader returns for
		// a stream frame is MaxStreamMemory's alone.
		c.doneWith(&fh)
		if body > 0 {
			return c.readStreamMessage(br, &hdr, body, in)
		}
	}
	var cmd *Command
	if err == nil {
		cmd, err = c.readBody(br, &hdr, body, in, &fh)
	}
	c.leaveLane(&fh) // the frame is read: another may finish beyond the budget
	if err != nil {
		c.doneWith(&fh)
		return nil, 0, err
	}
	return cmd, fh.n, nil
}

// doneWith gives back what a frame being read holds of MaxFrameMemory.
func (c *Conn) doneWith(fh *frameHold) {
	c.cfg.frames.give(fh.n)
	fh.n = 0
	c.leaveLane(fh)
}

// leaveLane gives back the budget's lane if fh holds it.
func (c *Conn) leaveLane(fh *frameHold) {
	if fh.lane {
		fh.lane = false
		c.cfg.frames.leaveLane()
	}
}

// bigHeader is the largest header whose fields and command are carved from the
// interner's slabs: a slab keeps the strings of every header carved from it alive,
// and must not keep a large one's.
const bigHeader = 1 << 10

// takeMemory takes n bytes of b for the frame the reader reads next. When
// they do not fit it calls waits, if given, and waits, reading nothing, at most
// IdleTimeout. Meanwhile the peer's frames, answers to pings included, wait unread:
// its silence proves nothing, and the heartbeat leaves the connection alone until the
// wait ends, which counts as a read.
func (c *Conn) takeMemory(b *byteBudget, n int64, waits func(*Conn)) (int64, error) {
	if n = min(n, b.max); b.takeNow(n) {
		return n, nil
	}
	if waits != nil {
		waits(c)
	}
	var charged int64
	var err error
	c.waitMemory(func() { charged, err = b.take(n, c.cfg.idle, c.closingCh) })
	return charged, err
}

// waitMemory runs wait, the reader's wait for memory, marked as such.
func (c *Conn) waitMemory(wait func()) {
	c.memWait.Store(true)
	wait()
	c.frameAt = sinceBase()            // the frame's IdleTimeout starts again: the wait was this side's
	c.lastRead.Store(int64(c.frameAt)) // before the mark goes: the heartbeat never sees the wait as silence
	c.memWait.Store(false)
}

// takePiece charges n more bytes of MaxFrameMemory to the frame fh being read,
// before they are allocated. A piece that does not fit waits as takeMemory does,
// unless the frame holds or can take the budget's lane (byteBudget.takePiece).
func (c *Conn) takePiece(fh *frameHold, n int64) error {
	b := c.cfg.frames
	switch {
	case fh.lane:
		b.takeInLane(n)
	case b.takeNow(n):
	default:
		var lane bool
		var err error
		c.waitMemory(func() { lane, err = b.takePiece(n, c.cfg.idle, c.closingCh) })
		if err != nil {
			return fmt.Errorf("%w: %w", errNoFrameMemory, err)
		}
		fh.lane = lane
	}
	fh.n += n
	return nil
}

// readHeader reads a frame up to its body, decodes the header into hdr, and returns
// the length of the body still to read. A header larger than the reader's buffer is
// read in growing pieces, each charged to fh as a body's is. A header larger than
// bigHeader is charged, before it is decoded, what its decoded fields may hold
// (headerHolds); the charge of its bytes, garbage once decoded, goes back. Such a
// header also sets *in to nil: the frame takes nothing from the slabs.
func (c *Conn) readHeader(br *bufio.Reader, in **interner, hdr *Command, fh *frameHold) (body int, err error) {
	pre, err := peek(br, frameLenSize)
	if err != nil {
		return 0, err
	}
	n, err := checkFrameLength(beUint32(pre), c.cfg.maxFrame)
	if err != nil {
		return 0, err
	}
	if pre, err = peek(br, frameLenSize+frameWordSize); err != nil {
		return 0, err
	}
	word := beUint32(pre[frameLenSize:])
	h := int(word & maxHeaderSize)
	if h > n-frameWordSize {
		return 0, malformed("bad header length %d in a frame of %d bytes", h, n)
	}
	br.Discard(frameLenSize + frameWordSize)
	var header []byte
	if h <= br.Size() {
		header, err = peek(br, h)
	} else {
		header, err = c.readPieces(br, h, fh)
	}
	if err != nil {
		return 0, err
	}
	t := SerializeType(word >> 24)
	if h > bigHeader {
		*in = nil
		if err := c.takePiece(fh, headerHolds(t, header)); err != nil {
			return 0, err
		}
	}
	// The header is decoded before the body's room is allocated: a bad header costs
	// nothing however large the frame says it is.
	if err := decodeHeader(hdr, t, header, *in); err != nil {
		return 0, err
	}
	if h <= br.Size() {
		br.Discard(h)
	} else {
		c.cfg.frames.give(int64(h))
		fh.n -= int64(h)
	}
	return n - frameWordSize - h, nil
}

// headerHolds is the most a decoded header of serialization t holds: its strings,
// copied from its bytes and not larger in all, and a Field of 32 bytes (two string
// headers) for each extFields entry.
func headerHolds(t SerializeType, h []byte) int64 {
	const fieldSize = 32
	var entries int
	switch t {
	case SerializeRocketMQ:
		entries = binaryEntries(h)
	case SerializeJSON:
		entries = jsonEntries(h)
	}
	return int64(len(h)) + int64(entries)*fieldSize
}

// readBody reads a body of n bytes into a command with the header hdr. A body of
// chargedBody bytes or more is charged to fh before it is allocated. A body of up to
// firstChunk bytes is read in one piece; a larger one in growing pieces, each charged
// as it is read, so that its memory is committed as its bytes arrive.
func (c *Conn) readBody(br *bufio.Reader, hdr *Command, n int, in *interner, fh *frameHold) (*Command, error) {
	if n >= chargedBody && n <= firstChunk {
		if err := c.takePiece(fh, int64(n)); err != nil {
			return nil, err
		}
	}
	var cmd *Command
	if n <= firstChunk {
		cmd = in.command(n)
	} else {
		cmd = new(Command)
	}
	body := cmd.Body
	*cmd = *hdr
	if n > firstChunk {
		var err error
		if body, err = c.readPieces(br, n, fh); err != nil {
			return nil, err
		}
	} else if n > 0 {
		if _, err := io.ReadFull(br, body); err != nil {
			return nil, err
		}
	}
	cmd.Body = body
	return cmd, nil
}

// readPieces reads n bytes in pieces of firstChunk bytes doubling up to lastChunk,
// then joins them. Each piece is charged to fh, when not nil, before it is allocated.
func (c *Conn) readPieces(br *bufio.Reader, n int, fh *frameHold) ([]byte, error) {
	var chunks [][]byte
	got := 0
	for size := firstChunk; got < n; size = min(2*size, lastChunk) {
		size = min(size, n-got)
		if fh != nil {
			if err := c.takePiece(fh, int64(size)); err != nil {
				return nil, err
			}
		}
		b := make([]byte, size)
		if _, err := io.ReadFull(br, b); err != nil {
			return nil, err
		}
		chunks = append(chunks, b)
		got += len(b)
		if c.cfg.bodyRead != nil {
			c.cfg.bodyRead(got, n)
		}
	}
	body := make([]byte, 0, n)
	for i, b := range chunks {
		body = append(body, b...)
		chunks[i] = nil // let each piece go as soon as it is copied
	}
	return body, nil
}

// peek returns the next n buffered bytes without consuming them, reading as needed.
// Like io.ReadFull, it reports a frame cut short as io.ErrUnexpectedEOF.
func peek(br *bufio.Reader, n int) ([]byte, error) {
	b, err := br.Peek(n)
	if err == io.EOF && len(b) > 0 {
		err = io.ErrUnexpectedEOF
	}
	return b, err
}

// bigCommand returns a command with a body of n bytes (nil when n is 0), for what the
// interner's slabs do not serve. A body of up to 1 KiB shares the command's
// allocation: one allocation per frame instead of two.
func bigCommand(n int) *Command {
	switch {
	case n == 0:
		return new(Command)
	case n <= 64:
		p := new(commandBody64)
		p.c.Body = p.b[:n:n]
		return &p.c
	case n <= 256:
		p := new(commandBody256)
		p.c.Body = p.b[:n:n]
		return &p.c
	case n <= 1024:
		p := new(commandBody1K)
		p.c.Body = p.b[:n:n]
		return &p.c
	}
	return &Command{Body: make([]byte, n)}
}

// A command with room for its body, in sizes that waste at most three quarters.
type (
	commandBody64 struct {
		c Command
		b [64]byte
	}
	commandBody256 struct {
		c Command
		b [256]byte
	}
	commandBody1K struct {
		c Command
		b [1024]byte
	}
)

func beUint32(b []byte) uint32 {
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

func (c *Conn) completeResponse(resp *Command) {
	cl := c.takePending(resp.Opaque)
	if cl == nil {
		if resp.Opaque == c.pingOpaque.Load() {
			return // a ping's answer: its arrival was all it had to say
		}
		if c.notice.Load() == noticeSent && resp.Opaque == c.goAwayOpaque.Load() {
			// A peer that does not know the notice answers it too, with an
			// error code, and may go on sending.
			_, drained := resp.ExtFields.Lookup(fieldDrained)
			if resp.Code == CodeSuccess && drained {
				c.notice.Store(noticeDone)
			} else {
				c.notice.Store(noticeAnswered)
			}
			return
		}
		c.cfg.log.Debug("transport: response matches no pending call (late or unknown)", "peer", c.addr, "opaque", resp.Opaque)
		return
	}
	if resp.Code == CodeGoAway {
		c.goAway.Store(true) // the peer is leaving: new calls go to a new connection
	}
	cl.complete(resp, nil)
}

// ---- pending table ----

// addPending gives cl an opaque no pending call holds (the counter wraps) and adds it,
// and reports whether it is the only call pending. A call with an expiry, or any call
// when the heartbeat is on, makes sure the reaper is ticking.
func (c *Conn) addPending(cl *call) (alone bool, err error) {
	c.pmu.Lock()
	if c.pending.closed {
		c.pmu.Unlock()
		return false, c.lostError(c.err)
	}
	c.pending.add(cl, &c.nextOpaque)
	alone = c.pending.n == 1
	wake := (cl.expires != 0 || c.cfg.hb.interval > 0) && !c.reaping
	if wake {
		c.reaping = true
	}
	c.pmu.Unlock()
	if wake {
		select {
		case c.reapNow <- struct{}{}:
		default:
		}
	}
	return alone, nil
}

func (c *Conn) takePending(opaque int32) *call {
	c.pmu.Lock()
	cl := c.pending.take(opaque)
	c.pmu.Unlock()
	return cl
}

// removePending removes cl if it is still pending and reports whether it did: the one
// that removes a call completes it.
func (c *Conn) removePending(cl *call) bool {
	c.pmu.Lock()
	ok := c.pending.remove(cl)
	c.pmu.Unlock()
	return ok
}

// Pending returns the number of calls waiting for a response on this connection.
func (c *Conn) Pending() int {
	c.pmu.Lock()
	defer c.pmu.Unlock()
	return c.pending.n
}

// ---- expiry ----

// expiry returns the reaper tick at which a call sent now has waited at least
// Options.Timeout. Calls without a deadline of their own are timed out by the reaper,
// so they need neither a timer nor a clock reading each.
func (c *Conn) expiry() int64 {
	return c.ticks.Load() + c.cfg.reapTicks + 2
}

func (c *Conn) expiredError(cl *call) error {
	return &timeoutError{what: cl.kind(), addr: c.addr, waited: c.cfg.timeout, opaque: cl.opaque, hasOpaq: true, limit: true}
}

// supervise owns the reaper and closes exited once the reader and writer have exited.
func (c *Conn) supervise() {
	for {
		select {
		case <-c.reapNow:
			c.reap()
		case <-c.closingCh:
			c.routines.Wait()
			close(c.exited)
			return
		}
	}
}

// reap ticks every Options.Timeout/reapDivisor while calls are pending, failing those
// whose expiry has come and watching that the peer still answers. It returns when none
// is pending or the connection closes.
func (c *Conn) reap() {
	t := time.NewTicker(c.cfg.reapEvery)
	defer t.Stop()
	var expired []*call
	for {
		select {
		case <-t.C:
		case <-c.closingCh:
			return
		}
		now := c.ticks.Add(1)
		c.pmu.Lock()
		expired = c.pending.expired(now, expired[:0])
		idle := c.pending.n == 0
		if idle {
			c.reaping = false
		}
		c.pmu.Unlock()
		if !idle { // a peer is pinged only while a call waits on it (docs/PROTOCOL.md §1)
			c.watchPeer(&c.silence)
		}
		var async []*call
		for _, cl := range expired {
			c.sendCancel(cl.opaque, true) // before complete: a sync call is recycled after it
			if cl.cb != nil {
				async = append(async, cl)
				continue
			}
			cl.complete(nil, c.expiredError(cl)) // wakes its caller: never blocks
		}
		clear(expired)
		if len(async) > 0 {
			// A callback may take its time, or even wait on another call: run them
			// aside, so that the reaper keeps timing out everything else.
			c.routines.Add(1)
			go func() {
				defer c.routines.Done()
				for _, cl := range async {
					cl.complete(nil, c.expiredError(cl))
				}
			}()
		}
		if idle {
			return
		}
	}
}
