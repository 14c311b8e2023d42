package transport

import (
	"bufio"
	"sync/atomic"
	"time"
)

// A request that arrives on a quiet connection runs on the connection's reader, not on
// a worker: handing it to a worker and its response to the writer costs two goroutine
// wake-ups, more than most processors take. Quiet means: the request is the only one
// of the connection's in flight, no other frame waits in the reader's buffer, it is
// neither oneway nor a stream, and its pool has a worker idle. The request takes that
// worker's place (workerPool.lend): a pool never runs more processors at once than it
// has workers.
//
// A processor that runs longer than one to two ticks of its pool's watch (inlineTick)
// hands the reading on: the watch starts a goroutine that reads in its place, so that
// the connection's next frames, its cancel notices and its close are seen as before.
// The processor's goroutine then finishes as a worker would and exits. One watch per
// pool, ticking while requests run inline, costs less than a timer per request.
//
// A pool whose processors are slow gains little inline, and a request that comes
// meanwhile on the same connection waits: after two runs in a row of more than
// inlineSlow, or one handed on, the pool runs its next 16 requests on workers, twice
// as many after each slow run in a row, up to 4096 (a processor descheduled for a
// moment is not slow).

const (
	inlineTick       = time.Millisecond
	inlineSlow       = 100 * time.Microsecond
	inlineBackoff    = 16
	inlineMaxBackoff = 8 // doublings
)

// The phases of a request run by the reader.
const (
	inlineRunning  = 1 + iota // the processor runs; the watch may hand the reading on
	inlineHanded              // another goroutine reads now
	inlineReturned            // the processor returned with the reading still here
)

// reader is what the connection's reader keeps from one frame to the next. The
// goroutine that reads may change (see above); one reads at a time.
type reader struct {
	c     *Conn
	ir    idleReader
	br    *bufio.Reader
	in    interner
	ctxs  ctxSlab
	spare *requestCtx // the context of the next request run inline

	// phase is the number of the run, shifted left twice, and its phase: the watch
	// hands on the run it saw, not a later one.
	phase atomic.Uint64
	runs  uint64
	cur   task         // the request running inline
	ahead []aheadFrame // the frames at the buffer's front read ahead; see watch
	gone  error        // why the peer's bytes ended while reading ahead: see peerGone
}

// inlineRun is a request a reader runs in the place of an idle worker of its pool.
type inlineRun struct {
	t    task
	r    *reader
	run  uint64 // the reader's number of the run
	seen bool   // the watch saw it running at its last tick
	done bool   // the watch handed its reading on, or found it returned: it is not watched
}

func (c *Conn) readLoop() {
	r := &reader{c: c}
	r.ir.c = c
	r.br = bufio.NewReaderSize(&r.ir, 64<<10)
	r.run()
}

// run reads until the connection fails, then ends the requests of the connection
// still running, unless a processor it ran was slow: the goroutine that
// took over the reading does that.
func (r *reader) run() {
	if r.loop() {
		r.c.endInbound() // the handlers of this connection's requests end with it
		r.c.routines.Done()
	}
}

// loop reads frames and hands them on. It returns true when the connection failed or
// closed, false when another goroutine reads in its place.
func (r *reader) loop() bool {
	c := r.c
	for {
		// A frame must come whole within IdleTimeout of its first bytes (idleReader),
		// the reader's wait for room aside: that wait is this side's.
		c.frameAt = r.ir.readAt
		if r.gone != nil && len(r.ahead) == 0 {
			c.readFailed(r.gone) // every whole frame before the end is read
			return true
		}
		if r.gone == nil && c.overloaded() {
			if !c.waitRoom(r) {
				return true // closed, or the peer went, while the reader waited for room
			}
			c.frameAt = sinceBase()
		}
		if r.br.Buffered() == 0 {
			c.frameAt = 0
		}
		cmd, charged, err := c.readFrame(r.br, &r.in)
		if err != nil {
			c.readFailed(err)
			return true
		}
		if r.ahead != nil && r.doneAhead() || r.gone != nil && !cmd.IsResponse() && !cmd.IsOneway() && !isControl(cmd.Code) && !isStreamFrame(cmd.Code) {
			c.cfg.frames.give(charged)
			continue // done while the reader waited for room, or nobody waits for it
		}
		cmd.received = r.ir.readAt
		if cmd.IsResponse() {
			c.cfg.frames.give(charged) // the caller has it now
			c.completeResponse(cmd)
			continue
		}
		if isStreamFrame(cmd.Code) {
			c.streamMessage(cmd, charged) // in order, here; its charge is MaxStreamMemory's
			continue
		}
		if charged > 0 {
			c.hold(cmd, charged)
		}
		c.started() // answered takes it back
		var quiet *reader
		if r.br.Buffered() == 0 {
			quiet = r
		}
		if wp := c.disp.dispatch(c, cmd, quiet); wp != nil && !r.runInline(wp) {
			return false
		}
	}
}

// lend lets r run req in the place of an idle worker, and reports whether it may: the
// pool is open, nothing is queued, a parked worker is not yet lent, and no request run
// inline was slow of late. The worker's place counts in workers, so that waiting for
// the workers waits for req too. It starts the pool's watch if it is not running.
func (wp *workerPool) lend(r *reader, req *Command) bool {
	if wp.slow.Load() > 0 {
		wp.slow.Add(-1)
		return false
	}
	c := r.c
	c.queueIn(wp) // so that a cancel notice and the close look in this pool
	if r.spare == nil {
		r.spare = r.ctxs.next()
	}
	wp.mu.Lock()
	defer wp.mu.Unlock()
	if wp.closed || wp.n > 0 || wp.idle-wp.waking <= len(wp.inlined) {
		return false
	}
	r.runs++
	r.phase.Store(r.runs<<2 | inlineRunning)
	r.cur = task{conn: c, req: req, ctx: r.spare, opaque: req.Opaque}
	r.spare = nil
	wp.inlined = append(wp.inlined, inlineRun{t: r.cur, r: r, run: r.runs})
	wp.lends++
	wp.workers.Add(1)
	if !wp.watching {
		wp.watching = true
		wp.workers.Add(1)
		go wp.watch()
	}
	return true
}

// runInline runs the request wp lent r a worker's place for, and reports whether this
// goroutine still reads.
func (r *reader) runInline(wp *workerPool) bool {
	run, t := r.runs<<2, r.cur
	r.cur = task{}
	d := r.c.disp
	start := sinceBase()
	resp := d.process(wp.p, t)
	reads := r.phase.CompareAndSwap(run|inlineRunning, run|inlineReturned)
	switch {
	case !reads: // handed on: the watch backed off
	case sinceBase()-start > inlineSlow:
		// Twice in a row: a processor descheduled once for a moment is not slow.
		if wp.late.Add(1) >= 2 {
			wp.late.Store(0)
			wp.backOff()
		}
	default:
		if wp.late.Load() != 0 {
			wp.late.Store(0)
		}
		if wp.slowRuns.Load() != 0 {
			wp.slowRuns.Store(0)
		}
	}
	d.finish(wp, t, resp)
	wp.unlend(t.ctx)
	return reads
}

// unlend gives back the place lend gave the request with ctx.
func (wp *workerPool) unlend(ctx *requestCtx) {
	wp.mu.Lock()
	for i := range wp.inlined {
		if wp.inlined[i].t.ctx == ctx {
			last := len(wp.inlined) - 1
			wp.inlined[i] = wp.inlined[last]
			wp.inlined[last] = inlineRun{}
			wp.inlined = wp.inlined[:last]
			break
		}
	}
	if wp.n > 0 {
		wp.wakeOne()
	}
	wp.mu.Unlock()
	wp.workers.Done()
}

// watch ticks while requests run inline in wp, and hands on the reading of those it
// finds running at two ticks in a row. It exits at a tick that finds none to watch
// and none started since the last, or the pool closed: a processor whose reading was
// handed on is not watched while it runs on.
func (wp *workerPool) watch() {
	defer wp.workers.Done()
	t := time.NewTicker(inlineTick)
	defer t.Stop()
	var slow []inlineRun
	var lends uint64
	for range t.C {
		wp.mu.Lock()
		watched := 0
		for i := range wp.inlined {
			switch e := &wp.inlined[i]; {
			case e.done:
			case e.seen:
				e.done = true
				slow = append(slow, *e)
			default:
				e.seen = true
				watched++
			}
		}
		if watched == 0 && len(slow) == 0 && (wp.closed || wp.lends == lends) {
			wp.watching = false
			wp.mu.Unlock()
			return
		}
		lends = wp.lends
		wp.mu.Unlock()
		for _, e := range slow {
			e.r.handOver(wp, e.run)
		}
		clear(slow)
		slow = slow[:0]
	}
}

// handOver has a new goroutine read in the place of r's, if run still runs.
func (r *reader) handOver(wp *workerPool, run uint64) {
	if !r.phase.CompareAndSwap(run<<2|inlineRunning, run<<2|inlineHanded) {
		return // it returned meanwhile
	}
	wp.backOff()
	go r.run()
}

// backOff has the pool run its next requests on workers after a slow run inline.
func (wp *workerPool) backOff() {
	doublings := min(wp.slowRuns.Add(1)-1, inlineMaxBackoff)
	wp.slow.Store(inlineBackoff << doublings)
}
