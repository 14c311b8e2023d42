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
// these, so it is kept to 32 bytes.
type requestCtx struct {
	opaque int32
	state  atomic.Uint32 // ctxEnded | ctxFinished | ctxWatched
	next   *requestCtx   // the inbound table's chain; the table's owner's alone
	mu     sync.Mutex
	w      *ctxWatch // made by the first Done or AfterFunc; guarded by mu
}

// ctxWatch is what a watched requestCtx keeps for its watchers.
type ctxWatch struct {
	done   chan struct{}
	closed bool // done was closed by end
	funcs  []*afterFunc
}

const (
	ctxEnded    = 1 << iota // Err's answer, without the lock
	ctxFinished             // the worker is done with it: the table may drop it
	ctxWatched              // Done or AfterFunc was called: end must take the lock
)

func (r *requestCtx) has(bit uint32) bool { return r.state.Load()&bit != 0 }

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
	if !r.set(ctxWatched, ctxEnded) {
		r.mu.Unlock()
		go f() // the caller may hold a lock that f takes
		return func() bool { return false }
	}
	a := &afterFunc{ctx: r, f: f}
	w := r.watch()
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

// end ends the context once: Done's channel closes and the registered functions run.
func (r *requestCtx) end() { r.endWith(ctxEnded) }

// endWith sets bits, ctxEnded among them, and ends the context if it had not ended.
func (r *requestCtx) endWith(bits uint32) {
	old := r.state.Or(bits)
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

// finish marks the request handled and ends its context.
func (r *requestCtx) finish() { r.endWith(ctxEnded | ctxFinished) }

func (r *requestCtx) String() string { return "transport.requestCtx" }

// inboundTable holds the requests a connection is handling (queued or running), by
// opaque, so that a cancel notice finds its request and a closing connection ends them
// all. It is a hash table of chains linked through the contexts themselves, indexed by
// an opaque's low bits. Peers choose opaques, so two requests may share one; a notice
// for it ends both.
//
// The table belongs to the connection's reader, which alone adds, finds and closes, so
// it takes no lock. A worker that finishes a request only marks its context finished;
// the reader drops finished entries when the table fills up, so a request costs the
// table an index and a store, and the worker an atomic store.
//
// Contexts are carved from a slab and never reused, so that a processor may keep one:
// a kept context keeps its slab (inboundSlab contexts, 1 KiB) alive.
type inboundTable struct {
	slots  []*requestCtx
	n      int // entries, finished ones included until a sweep
	closed bool
	slab   []requestCtx
}

const (
	minInboundSlots = 64
	inboundSlab     = 32
)

func (t *inboundTable) slot(opaque int32) **requestCtx {
	return &t.slots[uint32(opaque)&uint32(len(t.slots)-1)]
}

// add returns the context of a new request with opaque; it has already ended when the
// table was closed.
func (t *inboundTable) add(opaque int32) *requestCtx {
	if len(t.slab) == 0 {
		t.slab = make([]requestCtx, inboundSlab)
	}
	r := &t.slab[0]
	t.slab = t.slab[1:]
	r.opaque = opaque
	if t.closed {
		r.state.Store(ctxEnded | ctxFinished)
		return r
	}
	if (t.n+1)*2 > len(t.slots) {
		t.sweep()
		// Grow only when live requests fill a quarter: sweeps then come at most every
		// quarter of the table's adds.
		if (t.n+1)*4 > len(t.slots) {
			t.resize(max(minInboundSlots, nextPow2(4*(t.n+1))))
		}
	}
	s := t.slot(opaque)
	r.next, *s = *s, r
	t.n++
	return r
}

func nextPow2(n int) int {
	p := 1
	for p < n {
		p <<= 1
	}
	return p
}

func (t *inboundTable) resize(size int) {
	old := t.slots
	t.slots = make([]*requestCtx, size)
	for _, r := range old {
		for r != nil {
			next := r.next
			s := t.slot(r.opaque)
			r.next, *s = *s, r
			r = next
		}
	}
}

// sweep drops the finished requests, and a table a burst left empty.
func (t *inboundTable) sweep() {
	for i := range t.slots {
		for p := &t.slots[i]; *p != nil; {
			if r := *p; r.has(ctxFinished) {
				*p, r.next = r.next, nil
				t.n--
				continue
			}
			p = &(*p).next
		}
	}
	if t.n == 0 && len(t.slots) > minInboundSlots {
		t.slots = nil
	}
}

// find returns the contexts of the requests with opaque being handled.
func (t *inboundTable) find(opaque int32) []*requestCtx {
	if len(t.slots) == 0 {
		return nil
	}
	var found []*requestCtx
	for r := *t.slot(opaque); r != nil; r = r.next {
		if r.opaque == opaque && !r.has(ctxFinished) {
			found = append(found, r)
		}
	}
	return found
}

// busy reports whether any request is being handled.
func (t *inboundTable) busy() bool {
	t.sweep()
	return t.n > 0
}

// close empties the table, ends every context it held, and ends at once those of
// requests added later.
func (t *inboundTable) close() {
	var all []*requestCtx
	for _, r := range t.slots {
		for ; r != nil; r = r.next {
			all = append(all, r)
		}
	}
	t.slots, t.n, t.closed = nil, 0, true
	for _, r := range all {
		r.end()
	}
}

// sharedInbound is an inboundTable for many connections' readers.
type sharedInbound struct {
	mu sync.Mutex
	t  inboundTable
}

func (s *sharedInbound) add(opaque int32) *requestCtx {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.t.add(opaque)
}

func (s *sharedInbound) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.t.close()
}
