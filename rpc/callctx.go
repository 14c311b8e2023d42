package rpc

import (
	"context"
	"sync"
	"time"
)

// callCtx is a handler's context: the caller's deadline, metadata and address, over the
// transport's context of the request, which ends when the caller cancels or the
// connection closes. It ends itself when the handler returns.
//
// It holds what IncomingMetadata, PeerFromContext and SetReplyMetadata serve, never
// the pooled Call, so a handler may keep it and hand it to goroutines that outlive the
// call: they read the same metadata, and SetReplyMetadata reports false once the
// response is on its way.
//
// Most handlers never ask for Done, so nothing is made for it up front. The first
// Done, or the first look-up of a value the call does not carry (which is how the
// context package looks for a cancelable parent, through any WithValue layers), makes
// a standard cancelable context that ends with this one. Contexts derived from the
// handler's, directly or through values, hang on that standard context as children and
// start no goroutine.
//
// Every call makes one, so it is kept to 80 bytes: the deadline is a monotonic offset,
// the reason it ended a small code, and the standard context's parts a pointer.
type callCtx struct {
	parent   context.Context
	deadline time.Duration // since monoBase; 0: none of its own
	in       Metadata
	peer     string

	mu       sync.Mutex
	out      Metadata
	returned bool    // the handler returned: reply metadata is no longer taken
	ended    endCode // why it ended; endNone while it runs
	std      *stdCtx // made on first need; ends with this context
}

// stdCtx is the standard context a callCtx makes on first need, and the watch of the
// parent that ends it.
type stdCtx struct {
	ctx    context.Context
	cancel context.CancelFunc
	stop   func() bool // stops the watch of the parent
}

// endCode says why a callCtx ended.
type endCode uint8

const (
	endNone     endCode = iota
	endCanceled         // the handler returned
	endDeadline         // the caller's deadline passed
	endParent           // the parent ended: its Err says why
)

// monoBase is the origin of callCtx deadlines. Offsets from it keep the monotonic
// reading that time.Until and time.Since use.
var monoBase = time.Now()

func newCallCtx(parent context.Context, deadline time.Time, in Metadata, peer string) *callCtx {
	c := &callCtx{parent: parent, in: in, peer: peer}
	if !deadline.IsZero() {
		c.deadline = max(deadline.Sub(monoBase), 1)
	}
	return c
}

// handlerCtx returns the handler context ctx is or derives from, or nil.
func handlerCtx(ctx context.Context) *callCtx {
	c, _ := ctx.Value(serverKey{}).(*callCtx)
	return c
}

// ownDeadline returns the caller's deadline, or the zero time.
func (c *callCtx) ownDeadline() time.Time {
	if c.deadline == 0 {
		return time.Time{}
	}
	return monoBase.Add(c.deadline)
}

func (c *callCtx) Deadline() (time.Time, bool) {
	own := c.ownDeadline()
	if pd, ok := c.parent.Deadline(); ok && (own.IsZero() || pd.Before(own)) {
		return pd, true
	}
	return own, !own.IsZero()
}

func (c *callCtx) Value(key any) any {
	if key == (serverKey{}) {
		return c
	}
	if v := c.parent.Value(key); v != nil {
		return v
	}
	// Only the standard context answers the context package's own key (an *int):
	// with it, a context derived through WithValue layers still finds a cancelable
	// parent. Other keys missing here are missing there too, and must not make it.
	if _, ok := key.(*int); !ok {
		return nil
	}
	return c.standard().Value(key)
}

func (c *callCtx) Err() error {
	c.mu.Lock()
	ended, std := c.ended, c.std
	c.mu.Unlock()
	if ended != endNone {
		if std != nil && std.ctx.Err() == nil {
			return nil // ending: until Done's channel closes, the context has not ended
		}
		return c.errOf(ended)
	}
	var err error
	if std != nil {
		err = std.ctx.Err() // its timer keeps the deadline
	}
	switch {
	case err == context.DeadlineExceeded:
		ended = endDeadline
	case err != nil:
		ended = endCanceled
	case c.parent.Err() != nil:
		ended = endParent
	case c.deadline != 0 && time.Since(monoBase) >= c.deadline:
		ended = endDeadline
	default:
		return nil
	}
	c.end(ended)
	c.mu.Lock()
	ended = c.ended
	c.mu.Unlock()
	return c.errOf(ended)
}

func (c *callCtx) errOf(e endCode) error {
	switch e {
	case endDeadline:
		return context.DeadlineExceeded
	case endParent:
		if err := c.parent.Err(); err != nil {
			return err
		}
	}
	return context.Canceled
}

func (c *callCtx) Done() <-chan struct{} { return c.standard().Done() }

// standard returns the standard context that ends with this one, making it on first
// use: it carries the deadline, and a watch of the parent ends it with the parent.
func (c *callCtx) standard() context.Context {
	c.mu.Lock()
	if c.std != nil {
		defer c.mu.Unlock()
		return c.std.ctx
	}
	s := new(stdCtx)
	if dl := c.ownDeadline(); dl.IsZero() {
		s.ctx, s.cancel = context.WithCancel(context.Background())
	} else {
		s.ctx, s.cancel = context.WithDeadline(context.Background(), dl)
	}
	c.std = s
	ended := c.ended != endNone
	c.mu.Unlock()
	if ended {
		s.cancel()
		return s.ctx
	}
	// The transport's request context implements AfterFunc: watching it starts no
	// goroutine.
	stop := context.AfterFunc(c.parent, func() { c.end(endParent) })
	c.mu.Lock()
	if c.ended == endNone {
		s.stop = stop
		stop = nil
	}
	c.mu.Unlock()
	if stop != nil { // ended meanwhile
		stop()
	}
	return s.ctx
}

// end ends the context once, for why: the standard context, if made, is cancelled and
// the parent watch stops.
func (c *callCtx) end(why endCode) {
	c.mu.Lock()
	s := c.endLocked(why)
	c.mu.Unlock()
	s.stopAll()
}

// endLocked records why the context ended, if it had not, and returns the standard
// context to cancel outside the lock. mu is held.
func (c *callCtx) endLocked(why endCode) *stdCtx {
	if c.ended != endNone {
		return nil
	}
	c.ended = why
	return c.std
}

// stopAll stops the parent watch and cancels the standard context.
func (s *stdCtx) stopAll() {
	if s == nil {
		return
	}
	if s.stop != nil {
		s.stop()
	}
	s.cancel()
}

// setReply adds a pair to the reply metadata, until the handler returns.
func (c *callCtx) setReply(key, value string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.returned {
		return false
	}
	if c.out == nil {
		c.out = make(Metadata)
	}
	c.out[key] = value
	return true
}

// release ends the context once the handler has returned, and returns the reply
// metadata the handler set.
func (c *callCtx) release() Metadata {
	c.mu.Lock()
	c.returned = true
	out := c.out
	s := c.endLocked(endCanceled)
	c.mu.Unlock()
	s.stopAll()
	return out
}

func (c *callCtx) String() string { return "rpc.callCtx" }
