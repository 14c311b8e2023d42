package transport

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// requestCtx is the context a processor runs under: one per inbound request. It ends
// when the caller's cancel notice for the request arrives, when the connection the
// request came on closes (for any reason, the owner's Close included), or when the
// processor returns.
//
// It implements AfterFunc, which the context package looks for: contexts derived from
// it with WithCancel, WithTimeout or AfterFunc start no goroutine. It carries no values
// and no deadline. What only watchers need (Done's channel, the functions to run) is
// made when first asked for: most processors never ask, and every request has one of
// these, so it is kept to 24 bytes.
type requestCtx struct {
	state atomic.Uint32 // ctxEnded | ctxWatched | ctxExpired
	mu    sync.Mutex
	w     *ctxWatch // made by the first Done or AfterFunc; guarded by mu
}

// ctxWatch is what a watched requestCtx keeps for its watchers.
type ctxWatch struct {
	done   chan struct{}
	closed bool // done was closed by end
	funcs  []*afterFunc
}

const (
	ctxEnded   = 1 << iota // Err's answer, without the lock
	ctxWatched             // Done or AfterFunc was called: end must take the lock
	ctxExpired             // with ctxEnded: the caller's deadline passed (fieldCancelExpired)
)

// set sets bit and reports whether the state had none of mask before.
func (r *requestCtx) set(bit, mask uint32) bool { return r.state.Or(bit)&mask == 0 }

// afterFunc is a function registered with requestCtx.AfterFunc; f is nil once it ran
// or was stopped.
type afterFunc struct {
	ctx *requestCtx
	f   func()
}

// closedChan is the Done channel of a context that ended before anyone asked.
var closedChan = func() chan struct{} {
	ch := make(chan struct{})
	close(ch)
	return ch
}()

func (r *requestCtx) Deadline() (deadline time.Time, ok bool) { return }

func (r *requestCtx) Value(any) any { return nil }

func (r *requestCtx) Err() error {
	s := r.state.Load()
	if s&ctxEnded == 0 {
		return nil
	}
	if s&ctxWatched != 0 {
		// Until end has closed Done's channel, the context has not ended for anyone
		// who watches it: Err must not say so before Done does.
		r.mu.Lock()
		open := r.w != nil && r.w.done != nil && !r.w.closed
		r.mu.Unlock()
		if open {
			return nil
		}
	}
	if s&ctxExpired != 0 {
		return context.DeadlineExceeded
	}
	return context.Canceled
}

// Done and AfterFunc set ctxWatched before they look at ctxEnded, and end sets
// ctxEnded and sees ctxWatched in one atomic step: a context nobody watched ends
// without taking its lock, and a watched one never misses its end.

func (r *requestCtx) Done() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	ended := !r.set(ctxWatched, ctxEnded)
	w := r.watch()
	if w.done == nil {
		if ended {
			return closedChan
		}
		w.done = make(chan struct{})
	}
	return w.done
}

// watch returns the watchers' state, made on first use. mu is held.
func (r *requestCtx) watch() *ctxWatch {
	if r.w == nil {
		r.w = new(ctxWatch)
	}
	return r.w
}

// AfterFunc arranges for f to run once the context ends; see context.AfterFunc. f runs
// in the goroutine that ends the context, so it must be quick: the context package
// gives it only cancellations of derived contexts.
func (r *requestCtx) AfterFunc(f func()) (stop func() bool) {
	r.mu.Lock()
	ended := !r.set(ctxWatched, ctxEnded)
	w := r.watch()
	// An end under way (its Done channel not yet closed) runs the functions it finds
	// once it has the lock: f joins them, for until then Err is nil, and the context
	// package's f would cancel a child with no error.
	if ended && (w.done == nil || w.closed) {
		r.mu.Unlock()
		go f() // the caller may hold a lock that f takes
		return func() bool { return false }
	}
	a := &afterFunc{ctx: r, f: f}
	w.funcs = append(w.funcs, a)
	r.mu.Unlock()
	return a.stop
}

// stop unregisters the function and reports whether it had not yet run.
func (a *afterFunc) stop() bool {
	r := a.ctx
	r.mu.Lock()
	defer r.mu.Unlock()
	if a.f == nil {
		return false
	}
	a.f = nil
	w := r.w
	for i, b := range w.funcs {
		if b == a {
			w.funcs = append(w.funcs[:i], w.funcs[i+1:]...)
			break
		}
	}
	return true
}

// end ends the context once, with how (ctxEnded, and ctxExpired when the caller's
// deadline passed): Done's channel closes and the registered functions run.
func (r *requestCtx) end(how uint32) {
	old := r.state.Load()
	for old&ctxEnded == 0 && !r.state.CompareAndSwap(old, old|how) {
		old = r.state.Load()
	}
	if old&ctxEnded != 0 || old&ctxWatched == 0 {
		return
	}
	r.mu.Lock()
	w := r.w
	var fs []func()
	if w != nil {
		if w.done != nil {
			close(w.done)
			w.closed = true
		}
		for _, a := range w.funcs {
			fs = append(fs, a.f)
			a.f = nil
		}
		w.funcs = nil
	}
	r.mu.Unlock()
	for _, f := range fs {
		f()
	}
}

func (r *requestCtx) String() string { return "transport.requestCtx" }

// ctxSlab hands out request contexts carved from a slab, to one worker: a context is
// made by the worker that runs its request, in its own cache. Contexts are never
// reused, so that a processor may keep one: a kept context keeps its slab
// (ctxSlabSize contexts, 768 bytes) alive.
type ctxSlab []requestCtx

const ctxSlabSize = 32

func (s *ctxSlab) next() *requestCtx {
	if len(*s) == 0 {
		*s = make([]requestCtx, ctxSlabSize)
	}
	r := &(*s)[0]
	*s = (*s)[1:]
	return r
}

// The requests a connection's peer sent and that are not yet answered are queued in
// the pools (connQueue), or running on a worker (workerPool.running) or on a reader
// (workerPool.inlined): a cancel notice and the connection's close find them there,
// under the pool's lock, so that the requests themselves pay for no table. A queued request found is marked, and its
// context ends as a worker takes it; a running one's context ends at once.

// cancelInbound ends the requests with opaque that the peer sent on c: a cancel
// notice. Peers choose opaques, so two requests may share one; the notice ends both.
// Oneway requests are not cancelled: nobody waits for them. Only c's reader calls it.
func (c *Conn) cancelInbound(opaque int32, expired bool) {
	how := uint32(ctxEnded)
	if expired {
		how |= ctxExpired
	}
	for _, q := range c.flow.queues {
		q.wp.end(q, how, func(o int32, oneway bool) bool { return o == opaque && !oneway })
	}
}

// endInbound ends the requests c's peer sent that are queued or running, oneway ones
// excepted: the connection closed. c's reader calls it as it exits, when no request
// can come anymore.
func (c *Conn) endInbound() {
	c.endStreams()
	for _, q := range c.flow.queues {
		q.wp.end(q, ctxEnded, func(_ int32, oneway bool) bool { return !oneway })
	}
}
