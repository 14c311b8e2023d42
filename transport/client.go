package transport

import (
	"context"
	"crypto/tls"
	"fmt"
	"maps"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Client sends requests to servers by address over long-lived connections, dialled on
// first use (once, however many callers arrive together) and again after they fail.
// Servers may send requests back over the same connections to the Client's processors.
type Client struct {
	cfg      *connConfig
	connect  time.Duration
	poolSize int
	disp     *dispatcher

	// dialCtx ends when Close begins, so that dials under way stop at once.
	dialCtx   context.Context
	stopDials context.CancelFunc

	// slots maps addresses to their connections. It is copied on write: addresses
	// come and go rarely, and every call looks one up, without a lock.
	slots  atomic.Pointer[map[string]*slot]
	mu     sync.Mutex // guards closed, conns and writers of slots
	closed bool
	conns  map[*Conn]struct{}
	dials  sync.WaitGroup // runDial goroutines; added to under mu while not closed
}

// slot holds the connections of one address.
type slot struct {
	rr      atomic.Uint32
	conns   []atomic.Pointer[Conn]
	mu      sync.Mutex // guards dials and dropped, and changes to conns
	dials   []*dialAttempt
	dropped bool // removed from the client's map: dial through a fresh slot
}

type dialAttempt struct {
	done chan struct{}
	conn *Conn
	err  error
}

// NewClient returns a client configured by opts; it dials nothing until first used.
func NewClient(opts ClientOptions) *Client {
	dialCtx, stopDials := context.WithCancel(context.Background())
	cl := &Client{
		dialCtx:   dialCtx,
		stopDials: stopDials,
		cfg:       newConnConfig(opts.ConnOptions, clientPermits),
		connect:   orDefault(opts.ConnectTimeout, DefaultConnectTimeout),
		poolSize:  orDefault(opts.PoolSize, 1),
		disp:      newDispatcher(),
		conns:     make(map[*Conn]struct{}),
	}
	cl.slots.Store(&map[string]*slot{})
	return cl
}

// RegisterProcessor registers p for requests with code that servers send to this
// client. Register before the first call; later registration fails.
func (cl *Client) RegisterProcessor(code int32, p Processor, opts PoolOptions) error {
	return cl.disp.register(code, false, p, opts)
}

// RegisterDefaultProcessor registers p for request codes no other processor handles.
func (cl *Client) RegisterDefaultProcessor(p Processor, opts PoolOptions) error {
	return cl.disp.register(0, true, p, opts)
}

// InvokeSync sends req to addr and waits for the response; see Conn.InvokeSync.
func (cl *Client) InvokeSync(ctx context.Context, addr string, req *Command) (*Command, error) {
	c, err := cl.Conn(ctx, addr)
	if err != nil {
		return nil, err
	}
	return c.InvokeSync(ctx, req)
}

// InvokeAsync sends req to addr and calls cb, which may be nil, exactly once; see
// Conn.InvokeAsync. A failed dial is told to cb on the caller's goroutine.
func (cl *Client) InvokeAsync(ctx context.Context, addr string, req *Command, cb func(*Command, error)) {
	c, err := cl.Conn(ctx, addr)
	if err != nil {
		if cb != nil {
			cb(nil, err)
		}
		return
	}
	c.InvokeAsync(ctx, req, cb)
}

// InvokeOneway sends req to addr with the oneway flag; see Conn.InvokeOneway.
func (cl *Client) InvokeOneway(ctx context.Context, addr string, req *Command) error {
	c, err := cl.Conn(ctx, addr)
	if err != nil {
		return err
	}
	return c.InvokeOneway(ctx, req)
}

// InvokeOnewayAsync sends req to addr with the oneway flag and calls done, which may
// be nil, exactly once: when the request was written, or with why not, a failed dial
// included; see Conn.InvokeOnewayAsync.
func (cl *Client) InvokeOnewayAsync(ctx context.Context, addr string, req *Command, done func(error)) {
	c, err := cl.Conn(ctx, addr)
	if err != nil {
		if done != nil {
			done(err)
		}
		return
	}
	c.InvokeOnewayAsync(ctx, req, done)
}

// Conn returns an open connection to addr, dialling it if needed.
func (cl *Client) Conn(ctx context.Context, addr string) (*Conn, error) {
	s := (*cl.slots.Load())[addr]
	if s == nil {
		s = cl.addSlot(addr)
	}
	i, c := s.pick()
	if c != nil {
		return c, nil
	}
	return cl.dial(ctx, addr, s, i)
}

func (cl *Client) addSlot(addr string) *slot {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	old := *cl.slots.Load()
	if s := old[addr]; s != nil {
		return s
	}
	m := make(map[string]*slot, len(old)+1)
	maps.Copy(m, old)
	s := &slot{conns: make([]atomic.Pointer[Conn], cl.poolSize), dials: make([]*dialAttempt, cl.poolSize)}
	m[addr] = s
	cl.slots.Store(&m)
	return s
}

// dropSlot forgets addr once its slot has no connection and no dial under way, so
// that addresses a client no longer uses do not accumulate.
func (cl *Client) dropSlot(addr string, s *slot) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.conns {
		if s.conns[i].Load() != nil || s.dials[i] != nil {
			return
		}
	}
	cl.mu.Lock()
	defer cl.mu.Unlock()
	old := *cl.slots.Load()
	if old[addr] != s {
		return
	}
	m := maps.Clone(old)
	delete(m, addr)
	cl.slots.Store(&m)
	s.dropped = true
}

// dial connects slot s's i-th connection; concurrent callers share one attempt.
func (cl *Client) dial(ctx context.Context, addr string, s *slot, i int) (*Conn, error) {
	s.mu.Lock()
	if s.dropped { // forgotten since the caller looked it up
		s.mu.Unlock()
		return cl.Conn(ctx, addr)
	}
	if c := s.conns[i].Load(); c != nil && c.usable() {
		s.mu.Unlock()
		return c, nil
	}
	a := s.dials[i]
	if a == nil {
		cl.mu.Lock()
		closed := cl.closed
		if !closed {
			cl.dials.Add(1)
		}
		cl.mu.Unlock()
		if closed {
			s.mu.Unlock()
			return nil, fmt.Errorf("%w: client is closed", ErrClosed)
		}
		a = &dialAttempt{done: make(chan struct{})}
		s.dials[i] = a
		go cl.runDial(addr, s, i, a)
	}
	s.mu.Unlock()
	select {
	case <-a.done:
		return a.conn, a.err
	default:
	}
	start := sinceBase()
	select {
	case <-a.done:
		return a.conn, a.err
	case <-ctx.Done():
		return nil, ctxError(ctx, "dial", addr, start)
	}
}

// runDial dials in its own goroutine so that a caller whose context ends does not
// abandon the attempt others wait on. It is bounded by ConnectTimeout, and Close stops
// it at once.
func (cl *Client) runDial(addr string, s *slot, i int, a *dialAttempt) {
	defer cl.dials.Done()
	defer close(a.done)
	c, err := cl.open(addr, func(c *Conn) {
		s.mu.Lock()
		s.conns[i].CompareAndSwap(c, nil)
		s.mu.Unlock()
		cl.forget(c)
		cl.dropSlot(addr, s)
	})
	s.mu.Lock()
	s.dials[i] = nil
	// A connection that closed already has run its onClose: keeping it would leave
	// the slot holding a dead connection that nothing removes.
	stored := err == nil && !c.isClosing()
	if stored {
		s.conns[i].Store(c)
	}
	s.mu.Unlock()
	a.conn, a.err = c, err
	if !stored {
		cl.dropSlot(addr, s)
	}
}

func (cl *Client) open(addr string, onClose func(*Conn)) (*Conn, error) {
	cl.mu.Lock()
	closed := cl.closed
	cl.mu.Unlock()
	if closed {
		return nil, fmt.Errorf("%w: client is closed", ErrClosed)
	}
	cl.disp.run()
	d := net.Dialer{Timeout: cl.connect}
	var nc net.Conn
	var err error
	if cl.cfg.tls != nil {
		nc, err = (&tls.Dialer{NetDialer: &d, Config: cl.cfg.tls}).DialContext(cl.dialCtx, "tcp", addr)
	} else {
		nc, err = d.DialContext(cl.dialCtx, "tcp", addr)
	}
	if err != nil {
		if strings.Contains(err.Error(), addr) { // net's errors name it: once is enough
			return nil, fmt.Errorf("%w: %w", ErrConnectFailed, err)
		}
		return nil, fmt.Errorf("%w: dial %s: %w", ErrConnectFailed, addr, err)
	}
	c := newConn(nc, cl.cfg, cl.disp, onClose)
	cl.mu.Lock()
	if cl.closed {
		cl.mu.Unlock()
		c.Close()
		return nil, fmt.Errorf("%w: client is closed", ErrClosed)
	}
	cl.conns[c] = struct{}{}
	cl.mu.Unlock()
	return c, nil
}

func (cl *Client) forget(c *Conn) {
	cl.mu.Lock()
	delete(cl.conns, c)
	cl.mu.Unlock()
}

// Close closes the client: it takes no new calls, writes what is already queued on
// each connection (oneway requests included), waiting at most a second for a peer that
// does not read, then closes the connections, failing calls still pending with
// ErrClosed. It stops the processors' workers and waits for all the client's
// goroutines to exit. It returns an error when a connection was closed with frames
// unwritten.
func (cl *Client) Close() error {
	cl.mu.Lock()
	if cl.closed {
		cl.mu.Unlock()
		return nil
	}
	cl.closed = true
	cl.stopDials()
	conns := make([]*Conn, 0, len(cl.conns))
	for c := range cl.conns {
		conns = append(conns, c)
	}
	cl.mu.Unlock()
	err := flushAndClose(context.Background(), conns, fmt.Errorf("%w: client closed", ErrClosed), cl.cfg.closeFlush)
	cl.disp.endOneway()
	cl.dials.Wait() // their dials were stopped at once
	cl.disp.stop()
	return err
}

// CloseConns closes every connection to addr at once, for a peer known to be
// unreachable: calls waiting on them fail with ErrConnectionLost wrapping cause, and
// the next call to addr dials afresh instead of queueing behind data that a cut link
// left unacknowledged.
func (cl *Client) CloseConns(addr string, cause error) {
	s := (*cl.slots.Load())[addr]
	if s == nil {
		return
	}
	for i := range s.conns {
		if c := s.conns[i].Load(); c != nil {
			c.closeWithError(fmt.Errorf("%w: %s: %w", ErrConnectionLost, addr, cause))
		}
	}
}

// Connected returns an open connection to addr that new calls may use, or nil when
// there is none yet: it never dials. Callers that bound the dial themselves ask it
// first and call Conn with their own deadline only when it returns nil.
func (cl *Client) Connected(addr string) *Conn {
	s := (*cl.slots.Load())[addr]
	if s == nil {
		return nil
	}
	_, c := s.pick()
	return c
}

// pick chooses the slot's next connection round-robin: its index, and the
// connection when new calls may use it.
func (s *slot) pick() (int, *Conn) {
	i := 0
	if len(s.conns) > 1 {
		i = int(s.rr.Add(1) % uint32(len(s.conns)))
	}
	if c := s.conns[i].Load(); c != nil && c.usable() {
		return i, c
	}
	return i, nil
}
