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
type callCtx struct {
	parent   context.Context
	deadline time.Time // zero: none of its own
	in       Metadata
	peer     string

	mu       sync.Mutex
	out      Metadata
	returned bool // the handler returned: reply metadata is no longer taken
	err      error
	std      context.Context // made on first need; ends with this context
	cancel   context.CancelFunc
	stop     func() bool // stops the watch of the parent
}

func newCallCtx(parent context.Context, deadline time.Time, in Metadata, peer string) *callCtx {
	return &callCtx{parent: parent, deadline: deadline, in: in, peer: peer}
}

// handlerCtx returns the handler context ctx is or derives from, or nil.
func handlerCtx(ctx context.Context) *callCtx {
	c, _ := ctx.Value(serverKey{}).(*callCtx)
	return c
}

func (c *callCtx) Deadline() (time.Time, bool) {
	if pd, ok := c.parent.Deadline(); ok && (c.deadline.IsZero() || pd.Before(c.deadline)) {
		return pd, true
	}
	return c.deadline, !c.deadline.IsZero()
}

func (c *callCtx) Value(key any) any {
	if key == (serverKey{}) {
		return c
	}
	if v := c.parent.Value(key); v != nil {
		return v
	}
	// Only the standard context answers the context package's own key: with it, a
	// context derived through WithValue layers still finds a cancelable parent.
	return c.standard().Value(key)
}

func (c *callCtx) Err() error {
	c.mu.Lock()
	err, std := c.err, c.std
	c.mu.Unlock()
	if err != nil {
		return err
	}
	if std != nil {
		err = std.Err() // its timer keeps the deadline
	}
	if err == nil {
		err = c.parent.Err()
	}
	if err == nil && !c.deadline.IsZero() && !time.Now().Before(c.deadline) {
		err = context.DeadlineExceeded
	}
	if err == nil {
		return nil
	}
	c.end(err)
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

func (c *callCtx) Done() <-chan struct{} { return c.standard().Done() }

// standard returns the standard context that ends with this one, making it on first
// use: it carries the deadline, and a watch of the parent ends it with the parent.
func (c *callCtx) standard() context.Context {
	c.mu.Lock()
	if c.std != nil {
		defer c.mu.Unlock()
		return c.std
	}
	if c.deadline.IsZero() {
		c.std, c.cancel = context.WithCancel(context.Background())
	} else {
		c.std, c.cancel = context.WithDeadline(context.Background(), c.deadline)
	}
	std, ended := c.std, c.err != nil
	c.mu.Unlock()
	if ended {
		c.cancel()
		return std
	}
	// The transport's request context implements AfterFunc: watching it starts no
	// goroutine.
	stop := context.AfterFunc(c.parent, c.parentEnded)
	c.mu.Lock()
	if c.err == nil {
		c.stop = stop
		stop = nil
	}
	c.mu.Unlock()
	if stop != nil { // ended meanwhile
		stop()
	}
	return std
}

func (c *callCtx) parentEnded() {
	err := c.parent.Err()
	if err == nil {
		err = context.Canceled
	}
	c.end(err)
}

// end ends the context once with err: the standard context, if made, is cancelled
// and the parent watch stops.
func (c *callCtx) end(err error) {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return
	}
	c.err = err
	cancel, stop := c.cancel, c.stop
	c.stop = nil
	c.mu.Unlock()
	if stop != nil {
		stop()
	}
	if cancel != nil {
		cancel()
	}
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
	c.mu.Unlock()
	c.end(context.Canceled)
	return out
}

func (c *callCtx) String() string { return "rpc.callCtx" }
