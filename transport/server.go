package transport

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// ErrServerClosed is returned by Serve after Shutdown or Close.
var ErrServerClosed = errors.New("transport: server closed")

// Server accepts connections and runs the processors registered for each request
// code. Register processors before Serve.
type Server struct {
	cfg  *connConfig
	disp *dispatcher

	mu      sync.Mutex
	ln      net.Listener
	conns   map[*Conn]struct{}
	cut     []*Conn // closed by a Shutdown cut short: Close waits for their goroutines
	closed  bool
	quit    chan struct{}  // closed with closed: ends the accept loop's backoff
	serving sync.WaitGroup // Serve's accept loop

	maxConns int      // ServerOptions.MaxConns
	refused  refusals // guarded by mu
}

// NewServer returns a server configured by opts.
func NewServer(opts ServerOptions) *Server {
	return &Server{
		cfg:      newConnConfig(opts.ConnOptions, serverPermits),
		disp:     newDispatcher(),
		conns:    make(map[*Conn]struct{}),
		quit:     make(chan struct{}),
		maxConns: orDefault(opts.MaxConns, DefaultMaxConns),
	}
}

// RegisterProcessor registers p for requests with code, run by its own worker pool.
// Registering a code twice, or after Serve began, fails.
func (s *Server) RegisterProcessor(code int32, p Processor, opts PoolOptions) error {
	return s.disp.register(code, false, p, opts)
}

// RegisterDefaultProcessor registers p for request codes no other processor handles;
// without one, such requests are answered REQUEST_CODE_NOT_SUPPORTED.
func (s *Server) RegisterDefaultProcessor(p Processor, opts PoolOptions) error {
	return s.disp.register(0, true, p, opts)
}

// NewPool makes a pool of workers of its own, with a queue of its own, running p for
// the requests that a processor's PoolOptions.Select picks it for: isolating, say, a
// slow kind of request from the others of its code. It may be made before or while
// serving; its workers start with the server's, and Shutdown and Close treat its
// requests as the others. PoolOptions.Select is ignored.
func (s *Server) NewPool(p Processor, opts PoolOptions) (*Pool, error) {
	return s.disp.newPool(p, opts)
}

// Listen opens a TCP listener on addr (":0" picks a free port) for Serve.
func Listen(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("transport: listen on %s: %w", addr, err)
	}
	return ln, nil
}

// Serve accepts connections on ln until Shutdown or Close, and returns
// ErrServerClosed then. It takes ownership of ln.
func (s *Server) Serve(ln net.Listener) error {
	if s.cfg.tls != nil {
		ln = tls.NewListener(ln, s.cfg.tls)
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		return ErrServerClosed
	}
	if s.ln != nil {
		s.mu.Unlock()
		return errors.New("transport: Serve called twice: a Server serves one listener")
	}
	s.ln = ln
	s.serving.Add(1)
	s.mu.Unlock()
	defer s.serving.Done()
	s.disp.run()
	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.isClosed() {
				return ErrServerClosed
			}
			if !temporaryAccept(err) {
				return fmt.Errorf("transport: accept: %w", err)
			}
			// Out of descriptors, or a peer gave up while queued: it passes, as
			// net/http's server finds. Wait and accept again.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			if errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) {
				s.cfg.log.Warn("transport: accept failed; accepting again after a pause", "err", err, "pause", backoff,
					"hint", "out of file descriptors: raise the process's limit (ulimit -n, LimitNOFILE) or lower transport.ServerOptions.MaxConns")
			} else {
				s.cfg.log.Warn("transport: accept failed; accepting again after a pause", "err", err, "pause", backoff)
			}
			if !s.pause(backoff) {
				return ErrServerClosed
			}
			continue
		}
		backoff = 0
		s.track(nc)
	}
}

// temporaryErrnos are the accept errors that pass by themselves: descriptors, memory
// or buffers run short, a peer that reset or gave up before it was accepted, a signal.
var temporaryErrnos = []syscall.Errno{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM, syscall.ECONNABORTED, syscall.ECONNRESET, syscall.EINTR}

func temporaryAccept(err error) bool {
	for _, errno := range temporaryErrnos {
		if errors.Is(err, errno) {
			return true
		}
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// pause waits d, and reports false when the server closes meanwhile.
func (s *Server) pause(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-s.quit:
		return false
	}
}

func (s *Server) track(nc net.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		nc.Close()
		return
	}
	if !s.admit(nc) {
		return
	}
	c := newConn(nc, s.cfg, s.disp, s.forget)
	s.conns[c] = struct{}{}
}

func (s *Server) forget(c *Conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// Addr returns the listener's address, or nil before Serve.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// Conns returns the open connections, for sending requests to clients.
func (s *Server) Conns() []*Conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*Conn, 0, len(s.conns))
	for c := range s.conns {
		out = append(out, c)
	}
	return out
}

// stopAccepting closes the listener and returns the open connections.
func (s *Server) stopAccepting() []*Conn {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.quit)
	}
	if s.ln != nil {
		s.ln.Close()
	}
	s.mu.Unlock()
	s.serving.Wait()
	return s.Conns()
}

// ShutdownError is Shutdown's error when its context ended before the requests in
// flight finished. Shutdown then cancelled their contexts, closed every connection and
// returned without waiting for the processors: their goroutines are the caller's to
// wait for, with Close.
type ShutdownError struct {
	// Cut is the number of processors running when the context ended, those of open
	// streams included: their requests were cut short and are not answered, their
	// streams end with their connections.
	Cut int
	// Streams is how many of Cut were processors of streams.
	Streams int
	// Running is how many of Cut were still running when Shutdown returned. Their
	// responses are not written: the connections are closed. A processor that returns
	// when its context ends may have returned already.
	Running int
	// Dropped is the number of requests that waited for a worker. They never run.
	Dropped int
	// Err is the context's error.
	Err error
}

func (e *ShutdownError) Error() string {
	return fmt.Sprintf("transport: shutdown cut short (%v): %s cut (%d serving a stream), %d still running, and %s dropped, none answered; their contexts are cancelled and their connections closed, and Close waits for the running handlers. Give Shutdown more time, or have handlers return when their context ends",
		e.Err, plural(e.Cut, "handler", "handlers"), e.Streams, e.Running, plural(e.Dropped, "queued request", "queued requests"))
}

// plural returns n with its noun.
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

// Unwrap returns the context's error.
func (e *ShutdownError) Unwrap() error { return e.Err }

// Shutdown stops accepting, answers new requests GO_AWAY, waits for the requests in
// flight to finish, writes what is queued on each connection (their responses, and
// requests the server sent), waiting at most a second for a peer that does not read,
// then closes every connection.
//
// It returns by the time ctx ends, whatever the processors do. When ctx ends before
// the requests in flight finished, it drops the queued ones, closes every connection
// at once, which ends the contexts of the running ones, and returns a *ShutdownError
// saying what it cut short; the processors still running go on in their goroutines
// until they return, and Close waits for them. When ctx ends during the writing, it
// closes the connections left and returns an error saying so.
func (s *Server) Shutdown(ctx context.Context) error {
	conns := s.stopAccepting()
	drained := s.disp.drain()
	for _, c := range conns {
		c.sendGoingAway()
	}
	q := newQuieting()
	select {
	case <-drained: // first, when ctx has already ended too
	default:
		if !s.closeIdleUntil(ctx, drained, q) {
			return s.cutShort(ctx)
		}
	}
	if !s.awaitQuiet(ctx, q) {
		return s.cutShort(ctx)
	}
	err := flushAndClose(ctx, s.Conns(), fmt.Errorf("%w: server shut down", ErrClosed), s.cfg.closeFlush)
	s.Close() // the processors are idle: it does not wait
	return err
}

// A draining server keeps a connection open until its peer answered the going-away
// notice, which a ringrpc peer does after its last request, or, for a peer that does
// not know the notice, until it has read nothing for goAwayQuiet (at most
// maxGoAwayWait in all): a request that was already on its way when the peer heard
// the notice is answered GO_AWAY, and its caller sends it elsewhere, instead of
// finding the connection closed and not knowing whether it ran.
const (
	goAwayQuiet   = 50 * time.Millisecond
	maxGoAwayWait = time.Second
)

// closeIdleUntil closes, while the requests in flight drain, each connection that
// has none of them, no stream open and no call of this server's pending, once its
// peer has sent all it will (quieting.closeQuiet): its peer, told to go away, has no
// reason to wait for the others. It returns false if ctx ends first.
func (s *Server) closeIdleUntil(ctx context.Context, drained <-chan struct{}, q *quieting) bool {
	tick := time.NewTicker(goAwayQuiet / 5)
	defer tick.Stop()
	for {
		select {
		case <-drained:
			return true
		case <-ctx.Done():
			select {
			case <-drained: // both: nothing was cut short
				return true
			default:
				return false
			}
		case <-tick.C:
		}
		q.closeQuiet(s.Conns())
	}
}

// quieting is what Shutdown knows of the connections it closes as they fall quiet.
type quieting struct {
	start  time.Duration // when Shutdown began (sinceBase)
	closed map[*Conn]bool
}

func newQuieting() *quieting {
	return &quieting{start: sinceBase(), closed: map[*Conn]bool{}}
}

// closeQuiet closes each of conns with nothing in flight whose peer has sent all it
// will: it answered the going-away notice as one that queues nothing after its
// answer, or it has been quiet as quietAfterNotice says, or maxGoAwayWait has passed.
// From then on a connection's oneway requests are turned away too (Conn.overdue).
// It reports whether every one of conns is closed.
func (q *quieting) closeQuiet(conns []*Conn) bool {
	now := sinceBase()
	all := true
	overdue := now-q.start >= maxGoAwayWait
	for _, c := range conns {
		if q.closed[c] {
			continue
		}
		if overdue {
			c.overdue.Store(true)
		}
		if c.flow.inflight.Load() > 0 || c.OpenStreams() > 0 || c.Pending() > 0 ||
			c.notice.Load() != noticeDone && !c.quietAfterNotice(now) && now-q.start < maxGoAwayWait {
			all = false
			continue
		}
		q.closed[c] = true
		c.closeGraceful(fmt.Errorf("%w: server shut down", ErrClosed))
	}
	return all
}

// quietAfterNotice reports whether c's peer, told to go away, has sent all it will:
// quiet for goAwayQuiet once it answered the notice as a request it does not know, or
// when the notice could not be sent. A peer that knows the notice answers it after
// its last request (noticeDone); one that does not answer it at all is given
// maxGoAwayWait.
func (c *Conn) quietAfterNotice(now time.Duration) bool {
	return c.notice.Load() != noticeSent && c.quietAt(now)
}

// quietAt reports whether c has read nothing for goAwayQuiet at now (sinceBase).
func (c *Conn) quietAt(now time.Duration) bool {
	return now-time.Duration(c.lastRead.Load()) >= goAwayQuiet
}

// awaitQuiet closes each connection as it falls quiet, as closeIdleUntil does, until
// every one is closed, and then seals the dispatcher and waits for the oneway
// requests it admitted meanwhile. It returns false when ctx ends with one of them in
// flight.
func (s *Server) awaitQuiet(ctx context.Context, q *quieting) bool {
	tick := time.NewTicker(goAwayQuiet / 5)
	defer tick.Stop()
	sealed := false
	for {
		if !sealed && q.closeQuiet(s.Conns()) {
			// Sealed before the count is read: a oneway request admitted after
			// this look is counted in it.
			s.disp.sealed.Store(true)
			sealed = true
		}
		if sealed && s.disp.running() == 0 {
			return true
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			s.disp.sealed.Store(true) // the connections close now: admit nothing more
			return s.disp.running() == 0
		}
	}
}

// cutShort ends what Shutdown could not finish within its context, without waiting
// for anything.
func (s *Server) cutShort(ctx context.Context) error {
	dropped := s.disp.abort()
	// Counted before the connections close: processors that honour their context
	// return as they do, and were cut all the same.
	cut := s.disp.running()
	streams := min(int(s.disp.streamsOpen.Load()), cut)
	conns := s.Conns()
	s.mu.Lock()
	s.cut = append(s.cut, conns...)
	s.mu.Unlock()
	for _, c := range conns {
		c.closeWithError(fmt.Errorf("%w: server shut down before its requests finished", ErrClosed))
	}
	s.disp.endOneway()
	running := min(s.disp.running(), cut)
	return &ShutdownError{Cut: cut, Streams: streams, Running: running, Dropped: dropped, Err: ctx.Err()}
}

// Close closes the listener and every connection at once, dropping what is queued on
// them and the requests waiting for a worker; calls pending on them fail with
// ErrClosed, and the contexts of the requests being processed end. It waits for the
// server's goroutines, running processors included, to exit: after a Shutdown cut
// short, it is how to wait for the processors Shutdown left running.
func (s *Server) Close() error {
	conns := s.stopAccepting()
	s.disp.abort()
	// Connections before the processors finish: a processor that stops on
	// cancellation must not get its late response out as if the call had been served.
	for _, c := range conns {
		c.closeWithError(fmt.Errorf("%w: server closed", ErrClosed))
	}
	s.disp.endOneway()
	s.mu.Lock()
	conns = append(conns, s.cut...)
	s.mu.Unlock()
	for _, c := range conns {
		<-c.exited
	}
	waitWorkers(s.disp.closePools())
	s.disp.streamRoutines.Wait()
	return nil
}
