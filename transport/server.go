package transport

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"
)

// ErrServerClosed is returned by Serve after Shutdown or Close.
var ErrServerClosed = errors.New("transport: server closed")

// Server accepts connections and runs the processors registered for each request
// code. Register processors before Serve.
type Server struct {
	cfg  *connConfig
	disp *dispatcher

	mu       sync.Mutex
	ln       net.Listener
	conns    map[*Conn]struct{}
	closed   bool
	serving  sync.WaitGroup // Serve's accept loop
	stopOnce sync.Once

	maxConns int      // ServerOptions.MaxConns
	refused  refusals // guarded by mu
}

// NewServer returns a server configured by opts.
func NewServer(opts ServerOptions) *Server {
	return &Server{
		cfg:      newConnConfig(opts.ConnOptions, serverPermits),
		disp:     newDispatcher(),
		conns:    make(map[*Conn]struct{}),
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
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				time.Sleep(backoff) // resource exhaustion (EMFILE): let it ease
				continue
			}
			return fmt.Errorf("transport: accept: %w", err)
		}
		backoff = 0
		s.track(nc)
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
	s.closed = true
	if s.ln != nil {
		s.ln.Close()
	}
	s.mu.Unlock()
	s.serving.Wait()
	return s.Conns()
}

// Shutdown stops accepting, answers new requests GO_AWAY, waits for the requests in
// flight to finish, writes what is queued on each connection (their responses, and
// requests the server sent), waiting at most a second for a peer that does not read,
// then closes every connection. When ctx ends first, it closes everything at once and
// returns ctx's error.
func (s *Server) Shutdown(ctx context.Context) error {
	s.stopAccepting()
	var err error
	select {
	case <-s.disp.drain():
		err = flushAndClose(ctx, s.Conns(), fmt.Errorf("%w: server shut down", ErrClosed), s.cfg.closeFlush)
	case <-ctx.Done():
		err = fmt.Errorf("transport: shutdown cut short with requests in flight: %w", ctx.Err())
	}
	s.Close()
	return err
}

// Close closes the listener and every connection at once, dropping what is queued on
// them; calls pending on them fail with ErrClosed, and the contexts of the requests
// being processed end. It waits for the server's goroutines, including running
// processors, to exit.
func (s *Server) Close() error {
	conns := s.stopAccepting()
	// Connections first: a processor that stops on cancellation must not get its
	// late response out as if the call had been served.
	for _, c := range conns {
		c.closeWithError(fmt.Errorf("%w: server closed", ErrClosed))
	}
	s.disp.endOneway()
	for _, c := range conns {
		<-c.exited
	}
	s.stopOnce.Do(s.disp.stop)
	return nil
}
