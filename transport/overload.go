package transport

import (
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of the overload options. Together they bound what peers can make a process
// hold (docs/OPERATIONS.md, "Overload and hostile peers"): with them a server holds
// some 10000 × 300 KiB of connection buffers and queues when peers read nothing and
// responses are small (more for large ones), and 256 MiB of large bodies.
const (
	DefaultMaxConnInflight = 1024
	DefaultMaxInflight     = 1024
	DefaultMaxUnreadOutput = 64 << 10
	DefaultMaxFrameMemory  = 256 << 20
	DefaultMaxConns        = 10000
)

const (
	// minShare is the fewest requests in flight a connection is always allowed.
	minShare = 4
	// chargedBody is the smallest body charged to MaxFrameMemory: smaller ones are
	// bounded by the requests in flight and the workers' queues.
	chargedBody = 4 << 10
	// firstChunk is the largest body read in one piece, and the first piece of a
	// larger one; later pieces double up to lastChunk. A body is assembled once
	// complete, so a frame that stalls holds what it sent, plus less than a piece.
	firstChunk = 64 << 10
	lastChunk  = 1 << 20
)

// byteBudget bounds bytes held across many connections: MaxFrameMemory, and
// MaxStreamMemory. A taker waits for room. A stream's message is taken whole; a large
// frame piece by piece as its bytes arrive (takePiece), so that a frame that stalls
// holds what it sent. Readers that each hold part of what they need could then wait
// for one another for ever: the lane lets one frame at a time finish beyond the
// budget. Taking and giving are atomic unless a taker waits: a stream's consumer
// gives back per message.
type byteBudget struct {
	max     int64
	used    atomic.Int64
	waiting atomic.Int32
	lane    atomic.Bool // a frame is being finished beyond the budget
	mu      sync.Mutex
	freed   chan struct{} // closed by the next give while a taker waits; guarded by mu
	what    string        // what a taker takes room for, in errors
	holder  string        // what holds the budget and what to do, in errors
}

func newByteBudget(max int64, what, holder string) *byteBudget {
	return &byteBudget{max: max, what: what, holder: holder}
}

// take takes n bytes, or the whole budget when n exceeds it, and returns what it
// took. It waits for room at most limit, a connection's IdleTimeout, which its error
// names, or until done closes.
func (b *byteBudget) take(n int64, limit time.Duration, done <-chan struct{}) (int64, error) {
	n = min(n, b.max)
	if b.takeNow(n) {
		return n, nil
	}
	if err := b.wait(n, limit, done, func() bool { return b.takeNow(n) }); err != nil {
		return 0, err
	}
	return n, nil
}

// takePiece takes n bytes for a frame being read that does not hold the lane: now
// if they fit, else by taking the lane, else once either can be done. It waits as
// take does, and returns whether it took the lane; the frame holds it, and takes its
// further pieces with takeInLane, until it gives it back with leaveLane.
//
// Why this cannot wait for ever: the lane is taken only while the budget is not
// over, and its holder never waits for memory, only for its peer's bytes. Frames
// without the lane take only what fits; what is over the budget is the lane's frame
// alone, and goes back when that frame is done with. So whenever frames wait, either
// one holds the lane and finishes, or the frames done with give back until the lane
// can be taken. The budget is exceeded by at most the charge of one frame.
func (b *byteBudget) takePiece(n int64, limit time.Duration, done <-chan struct{}) (lane bool, err error) {
	if b.takeNow(n) {
		return false, nil
	}
	if b.takeLane(n) {
		return true, nil
	}
	err = b.wait(n, limit, done, func() bool {
		if b.takeNow(n) {
			return true
		}
		lane = b.takeLane(n)
		return lane
	})
	return lane, err
}

// takeLane takes the lane and n bytes when nobody holds it and the budget is not
// over.
func (b *byteBudget) takeLane(n int64) bool {
	if b.used.Load() > b.max || !b.lane.CompareAndSwap(false, true) {
		return false
	}
	if b.used.Load() > b.max { // a lane's frame finished in between
		b.leaveLane()
		return false
	}
	b.used.Add(n)
	return true
}

// takeInLane takes n bytes for the frame that holds the lane, fit or not.
func (b *byteBudget) takeInLane(n int64) { b.used.Add(n) }

// leaveLane gives the lane back, and wakes the takers that wait for it.
func (b *byteBudget) leaveLane() {
	b.lane.Store(false)
	b.wake()
}

// wait waits until try succeeds, at most limit, or until done closes. Takers count
// as waiting before they try again, so that a give from then on wakes them.
func (b *byteBudget) wait(n int64, limit time.Duration, done <-chan struct{}, try func() bool) error {
	var t *time.Timer
	for {
		b.waiting.Add(1)
		b.mu.Lock()
		if b.freed == nil {
			b.freed = make(chan struct{})
		}
		freed := b.freed
		b.mu.Unlock()
		if try() {
			b.waiting.Add(-1)
			return nil
		}
		if t == nil {
			t = time.NewTimer(limit)
			defer t.Stop()
		}
		select {
		case <-freed:
		case <-t.C:
			b.waiting.Add(-1)
			return fmt.Errorf("transport: no room for %s of %d bytes within %v (transport.ConnOptions.IdleTimeout): the budget of %d bytes is held by %s", b.what, n, limit, b.max, b.holder)
		case <-done:
			b.waiting.Add(-1)
			return ErrClosed
		}
		b.waiting.Add(-1)
	}
}

// takeNow takes n bytes if they fit now. It never counts more than max, even for a
// moment, so that a taker that fits is never refused for another's attempt.
func (b *byteBudget) takeNow(n int64) bool {
	for {
		u := b.used.Load()
		if u+n > b.max {
			return false
		}
		if b.used.CompareAndSwap(u, u+n) {
			return true
		}
	}
}

// give gives back n bytes taken, and wakes the takers that wait.
func (b *byteBudget) give(n int64) {
	if n == 0 {
		return
	}
	b.used.Add(-n)
	b.wake()
}

// wake wakes the takers that wait, if any.
func (b *byteBudget) wake() {
	if b.waiting.Load() == 0 {
		return
	}
	b.mu.Lock()
	freed := b.freed
	b.freed = nil
	b.mu.Unlock()
	if freed != nil {
		close(freed)
	}
}

// frameHold is what a frame being read holds of MaxFrameMemory, and whether it
// holds the budget's lane.
type frameHold struct {
	n    int64
	lane bool
}

// flow is what a connection's reader needs to know to stop reading from a peer that
// costs too much: the requests it handed on and not yet answered, and the large
// bodies of those requests, which stay charged to MaxFrameMemory until answered.
type flow struct {
	inflight atomic.Int32 // all the requests handed on: Handling, idle and Shutdown read it
	// pooled counts those of inflight in pools of their own (workerPool.own), which
	// their pools' Workers and QueueSize bound: MaxConnInflight and MaxInflight do not.
	// It rises after inflight and drops before it, so inflight-pooled never undercounts.
	pooled   atomic.Int32
	paused   atomic.Bool   // the reader waits on resume
	watch    atomic.Int32  // watchOff, or the paused reader reads ahead (see reader.watch)
	resumeAt atomic.Int32  // while paused: answers wake the reader at this many in flight
	resume   chan struct{} // a token wakes the paused reader to look again

	heldN  atomic.Int32 // entries in held: answered looks only when there are some
	heldMu sync.Mutex
	held   map[*Command]int64

	// queues are the connection's sub-queues in the worker pools it fed, through
	// which the pools serve connections in turn; the reader's alone.
	queues []*connQueue

	// notices is how many cancel notices the peer may still send: one per request it
	// sent, at most maxConnInflight ahead. A notice scans the pools under their locks;
	// a peer cannot buy more scans than it sends requests. The reader's alone.
	notices int32
}

// share returns how many requests counted toward the caps (counted) the connection may
// have in flight now. The connections with requests in flight share MaxInflight, those
// whose requests are all in own pools included.
func (c *Conn) share() int32 {
	active := max(c.disp.active.Load(), 1)
	return int32(min(int64(c.cfg.maxConnInflight), max(minShare, c.cfg.maxInflight/active)))
}

// overloaded reports whether the reader must wait before it reads another frame: too
// many requests in flight, on the connection or in all, or too many responses
// unread. A connection with fewer than minShare requests in flight is never stopped
// by the others': its own answers are what wake it. A MaxConnInflight under minShare
// stops it all the same. Requests in own pools do not count: a pool whose handlers
// block must not stop the reader of the other pools' requests.
func (c *Conn) overloaded() bool {
	floor := min(minShare, c.cfg.maxConnInflight)
	if c.flow.inflight.Load() >= floor {
		if n := c.counted(); n >= floor && (n >= c.cfg.maxConnInflight || c.disp.accepted() >= c.cfg.maxInflight || int64(n)*c.disp.active.Load() >= c.cfg.maxInflight) {
			return true
		}
	}
	return c.w.full.Load()
}

// counted returns the requests the connection has in flight that count toward
// MaxConnInflight and MaxInflight: those not in own pools. It reads inflight first, so
// that it may count one too many, never one too few.
func (c *Conn) counted() int32 {
	n := c.flow.inflight.Load()
	return n - c.flow.pooled.Load()
}

// waitRoom waits until the connection may read again, and reports false when it
// closed meanwhile. A reader stopped by its requests in flight reads again once a
// quarter of its share is answered, so that it reads many frames per wake. Whoever
// makes room calls wakeReader after: either the reader's second look sees the room,
// or the waker sees paused and leaves a token. Meanwhile r, when given, reads ahead
// into its buffer (reader.watch), so that the peer's close and notices still count.
func (c *Conn) waitRoom(r *reader) bool {
	share := c.share()
	c.flow.resumeAt.Store(share - max(share/4, 1))
	for c.stillOverloaded() {
		c.flow.paused.Store(true)
		if !c.stillOverloaded() {
			break
		}
		if c.cfg.readerWaits != nil {
			c.cfg.readerWaits(c)
		}
		if r != nil && r.gone == nil && r.br.Buffered() < r.br.Size() {
			if !r.watch() {
				return false
			}
			if r.gone != nil {
				break // the frames left are read at once: see peerGone
			}
			continue
		}
		select {
		case <-c.flow.resume:
		case <-c.closingCh:
			return false
		}
	}
	c.flow.paused.Store(false)
	return true
}

func (c *Conn) stillOverloaded() bool {
	n := c.counted()
	return n > c.flow.resumeAt.Load() || n >= minShare && c.disp.accepted() >= c.cfg.maxInflight || c.w.full.Load()
}

// started counts a request handed on.
func (c *Conn) started() {
	if c.flow.inflight.Add(1) == 1 {
		c.disp.active.Add(1)
	}
}

func (c *Conn) wakeReader() {
	if c.flow.paused.Load() {
		select {
		case c.flow.resume <- struct{}{}:
		default:
		}
		if c.flow.watch.CompareAndSwap(watchOn, watchWoken) {
			c.nc.SetReadDeadline(aLongTimeAgo) // ends the reader's read ahead
		}
	}
}

// answered is called once for every request the reader handed on, when its answer
// was queued or it was found to need none.
func (c *Conn) answered(req *Command) {
	if c.flow.heldN.Load() > 0 {
		c.cfg.frames.give(c.unhold(req))
	}
	n := c.flow.inflight.Add(-1)
	if n == 0 {
		c.disp.active.Add(-1)
	}
	if c.flow.paused.Load() && c.counted() <= c.flow.resumeAt.Load() {
		c.wakeReader()
	}
}

// hold keeps req's body charged to the budget until req is answered.
func (c *Conn) hold(req *Command, n int64) {
	c.flow.heldMu.Lock()
	if c.flow.held == nil {
		c.flow.held = make(map[*Command]int64)
	}
	c.flow.held[req] = n
	c.flow.heldN.Add(1)
	c.flow.heldMu.Unlock()
}

func (c *Conn) unhold(req *Command) int64 {
	c.flow.heldMu.Lock()
	defer c.flow.heldMu.Unlock()
	n, ok := c.flow.held[req]
	if ok {
		delete(c.flow.held, req)
		c.flow.heldN.Add(-1)
	}
	return n
}

// admit reports whether a connection just accepted fits under MaxConns; one that does
// not is closed at once. s.mu is held.
func (s *Server) admit(nc net.Conn) bool {
	if len(s.conns) < s.maxConns {
		return true
	}
	nc.Close()
	s.refused.note(s, nc.RemoteAddr().String(), len(s.conns))
	return false
}

// refusals logs refused connections at most once a second, with how many there were.
// Those refused within the second after a line are logged together at its end, or as
// the server closes: every refusal is in some line. Guarded by the server's mu.
type refusals struct {
	last    time.Time
	n       int    // refused since the last line
	peer    string // the last refused, and the connections open then
	open    int
	waiting bool // a goroutine of the server's logs the n held back
}

func (r *refusals) note(s *Server, peer string, open int) {
	r.n++
	r.peer, r.open = peer, open
	wait := time.Second - time.Since(r.last)
	if wait <= 0 {
		r.log(s.cfg.log)
		return
	}
	if !r.waiting {
		// Serve's loop calls note, so serving is above zero: stopAccepting, which
		// Close and Shutdown call, ends the goroutine and waits for it.
		r.waiting = true
		s.serving.Add(1)
		go s.logRefusedAfter(wait)
	}
}

func (r *refusals) log(log *slog.Logger) {
	log.Warn("transport: refusing connections: the server holds transport.ServerOptions.MaxConns of them; raise it, or find the peers that open so many",
		"peer", r.peer, "open", r.open, "refused", r.n)
	r.last, r.n = time.Now(), 0
}

// logRefusedAfter logs the refusals held back once wait has passed, or at once when
// the server closes.
func (s *Server) logRefusedAfter(wait time.Duration) {
	defer s.serving.Done()
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
	case <-s.quit:
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refused.waiting = false
	if s.refused.n > 0 {
		s.refused.log(s.cfg.log)
	}
}
