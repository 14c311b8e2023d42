package rpc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"net"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ringrpc/ringrpc/transport"
)

// DefaultWorkers is the default of ServerOptions.Workers.
const DefaultWorkers = 256

// ServerOptions configures a Server. The zero value works.
type ServerOptions struct {
	// Interceptors wrap every call, the first outermost.
	Interceptors []Interceptor
	// Workers bounds the handlers running at once: the number of worker goroutines, in
	// whose place a connection's reader may run a request alone on its connection.
	// Default DefaultWorkers.
	Workers int
	// QueueSize is how many calls wait for a worker before new ones are answered
	// busy. Default transport.DefaultQueueSize.
	QueueSize int
	// Transport configures the connections. The server's pools reuse the memory of
	// requests once answered (transport.PoolOptions.ReuseRequests): Hooks in it must
	// not keep a request, its fields or its body.
	Transport transport.ServerOptions
	// Logger receives handler panics, and is the default of Transport's Logger.
	// Default: the logger given to SetFallbackLogger (a registry gives its own),
	// else slog.Default().
	Logger *slog.Logger

	// Pools gives services, or single methods, workers and a queue of their own, so
	// that one whose handlers are slow or blocked takes only its own workers: the
	// other services keep their latency, and its calls beyond its queue are answered
	// busy. Its calls count toward neither Transport.MaxConnInflight nor MaxInflight;
	// one connection may have at most Transport.MaxConnInflight of them queued. A key is a service name (ServiceDesc.Name), or a service name, a dot and a
	// method name ("example.com/shop/cart.Cart.Add"); a method's pool comes before its
	// service's. Keys are matched as services register, before or while serving;
	// Serve logs each key no registered service has taken yet. Default: every call
	// shares the Workers and QueueSize pool.
	Pools map[string]PoolOptions
}

// PoolOptions sizes the pool of a service or method in ServerOptions.Pools. The zero
// value works. Workers plus QueueSize bound the pool's calls held at once, all
// connections together: they count toward neither transport.ConnOptions.MaxConnInflight
// nor MaxInflight, so that a pool whose handlers block does not stop a connection from
// reading the other services' calls.
type PoolOptions struct {
	// Workers bounds its handlers running at once, as ServerOptions.Workers does.
	// Default DefaultWorkers.
	Workers int
	// QueueSize is how many of its calls wait for a worker before new ones are
	// answered busy. Default transport.DefaultQueueSize.
	QueueSize int
}

// Server serves registered services over a transport.Server. Services may be
// registered before or while serving.
type Server struct {
	ts       *transport.Server
	invoke   Invoker
	log      *slog.Logger
	mu       sync.Mutex // serialises registration
	services atomic.Pointer[map[string]*service]
	watchers []func(*ServiceDesc)
	// introspection and healthSvc answer IntrospectionService and HealthService; they
	// are not listed among the services.
	introspection *service
	healthSvc     *service
	health        *health
	// expired counts calls not run because their deadline passed while they waited
	// for a worker.
	expired atomic.Uint64
	// countMethods is set by the first MethodStats or DebugHandler: until someone
	// asks, calls pay nothing for per-method figures (a clock read and a shared add).
	countMethods atomic.Bool
	countOnce    sync.Once
	countSince   time.Time // when countMethods was set
	// cancelled counts calls not run because their caller cancelled them meanwhile.
	cancelled atomic.Uint64
	// pools is ServerOptions.Pools; matched holds the keys registered services took.
	// Both guarded by mu.
	pools   map[string]PoolOptions
	matched map[string]bool
	// fallback holds the logger SetFallbackLogger gave; nil with ServerOptions.Logger.
	fallback *atomic.Pointer[slog.Logger]
	maxFrame int // the transport's MaxFrameSize
}

type service struct {
	desc    *ServiceDesc
	methods map[string]*method
	pool    *transport.Pool // nil: the shared pool
	// methodPools is set when a method has a pool of its own.
	methodPools bool
}

type method struct {
	desc    *MethodDesc
	handler Handler
	pool    *transport.Pool // nil: its service's
	stats   methodStats
}

// NewServer returns a server configured by opts.
func NewServer(opts ServerOptions) *Server {
	s := &Server{log: opts.Logger}
	if s.log == nil {
		s.fallback = new(atomic.Pointer[slog.Logger])
		s.log = slog.New(&fallbackHandler{to: s.fallback})
	}
	if opts.Transport.Logger == nil {
		opts.Transport.Logger = s.log // one logger for the server and its connections
	}
	s.ts = transport.NewServer(opts.Transport)
	s.maxFrame = opts.Transport.MaxFrameSize
	if s.maxFrame <= 0 {
		s.maxFrame = transport.DefaultMaxFrameSize
	}
	empty := map[string]*service{}
	s.services.Store(&empty)
	s.invoke = chain(append([]Interceptor(nil), opts.Interceptors...), s.call)
	// The processors keep nothing of a request once they answered it: handlers get
	// copies of what they read, so the transport may reuse the request's memory.
	pool := transport.PoolOptions{Workers: opts.Workers, QueueSize: opts.QueueSize, ReuseRequests: true}
	if pool.Workers <= 0 {
		pool.Workers = DefaultWorkers
	}
	if len(opts.Pools) > 0 {
		s.pools = maps.Clone(opts.Pools)
		s.matched = make(map[string]bool)
	}
	s.serveHealth(&pool)
	// Cannot fail: the code is registered once, on a new server.
	_ = s.ts.RegisterProcessor(RequestCode, transport.ProcessorFunc(s.process), pool)
	s.introspection = &service{desc: &introspectionDesc, methods: map[string]*method{
		"Services": {desc: &introspectionDesc.Methods[0], handler: s.introspect},
	}}
	return s
}

// Transport returns the underlying transport server, to register processors for other
// request codes before Serve.
func (s *Server) Transport() *transport.Server { return s.ts }

// Register serves desc's methods with handlers, one per method in order. Generated
// RegisterXServer functions call it. Registering a service name twice fails.
func (s *Server) Register(desc *ServiceDesc, handlers []Handler) error {
	if err := desc.validate(handlers); err != nil {
		return err
	}
	svc := &service{desc: desc, methods: make(map[string]*method, len(desc.Methods))}
	for i := range desc.Methods {
		svc.methods[desc.Methods[i].Name] = &method{desc: &desc.Methods[i], handler: handlers[i]}
	}
	s.mu.Lock()
	old := *s.services.Load()
	if _, dup := old[desc.Name]; dup || desc.Name == IntrospectionService || desc.Name == HealthService {
		s.mu.Unlock()
		return fmt.Errorf("rpc: service %s is already registered on this server", desc.Name)
	}
	if err := s.givePools(svc); err != nil {
		s.mu.Unlock()
		return err
	}
	// Once nothing can fail, so that a service never registered has no status, and
	// before it is served, so that it never is without one; a status set before, or
	// meanwhile, is kept. The callbacks hear of it once s.mu is released.
	notify := s.health.put(desc.Name, StatusServing, true)
	next := make(map[string]*service, len(old)+1)
	for k, v := range old {
		next[k] = v
	}
	next[desc.Name] = svc
	s.services.Store(&next)
	watchers := s.watchers
	s.mu.Unlock()
	notify.notify(desc.Name, StatusServing)
	s.health.wake()
	for _, w := range watchers {
		w(desc)
	}
	return nil
}

// givePools makes the pools ServerOptions.Pools names for svc and its methods. mu is
// held.
func (s *Server) givePools(svc *service) error {
	if len(s.pools) == 0 {
		return nil
	}
	name := svc.desc.Name
	if o, ok := s.pools[name]; ok {
		p, err := s.ts.NewPool(transport.ProcessorFunc(func(ctx context.Context, conn *transport.Conn, req *transport.Command) (*transport.Command, error) {
			return s.processIn(ctx, conn, req, svc)
		}), o.transport())
		if err != nil {
			return fmt.Errorf("rpc: the pool of service %s: %w", name, err)
		}
		svc.pool = p
		s.matched[name] = true
	}
	for mname, m := range svc.methods {
		key := name + "." + mname
		o, ok := s.pools[key]
		if !ok {
			continue
		}
		p, err := s.ts.NewPool(transport.ProcessorFunc(func(ctx context.Context, conn *transport.Conn, req *transport.Command) (*transport.Command, error) {
			return s.run(ctx, conn, req, svc, m)
		}), o.transport())
		if err != nil {
			return fmt.Errorf("rpc: the pool of method %s: %w", key, err)
		}
		m.pool, svc.methodPools = p, true
		s.matched[key] = true
	}
	return nil
}

func (o PoolOptions) transport() transport.PoolOptions {
	return transport.PoolOptions{Workers: orDefault(o.Workers, DefaultWorkers), QueueSize: o.QueueSize, ReuseRequests: true}
}

// selectPool picks the pool of a request's service or method, the health service's
// included, on the connection's reader: nil for the shared pool. It reads the service
// name once, as process does (interfaceOf), so that a request runs on the pool of
// the service it runs.
func (s *Server) selectPool(req *transport.Command) *transport.Pool {
	name := interfaceOf(req.ExtFields)
	if name == HealthService {
		return s.healthSvc.pool
	}
	svc := (*s.services.Load())[name]
	if svc == nil {
		return nil
	}
	if svc.methodPools {
		if m := svc.methods[req.ExtFields.Get(HeaderMethod)]; m != nil && m.pool != nil {
			return m.pool
		}
	}
	return svc.pool
}

// warnUnmatchedPools logs the keys of ServerOptions.Pools that no service registered so
// far took: most likely a misspelt name, whose calls share the common pool.
func (s *Server) warnUnmatchedPools() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for key := range s.pools {
		if !s.matched[key] {
			s.log.Warn("rpc: rpc.ServerOptions.Pools names no service or method registered so far; its calls share the common pool until one registers under that name", "key", key)
		}
	}
}

// Services returns the descriptors of the registered services.
func (s *Server) Services() []*ServiceDesc {
	m := *s.services.Load()
	out := make([]*ServiceDesc, 0, len(m))
	for _, svc := range m {
		out = append(out, svc.desc)
	}
	return out
}

// OnRegister calls fn for every service registered from now on, in the registering
// goroutine, after the service is served. It is how a registry announces services
// registered after joining.
func (s *Server) OnRegister(fn func(*ServiceDesc)) {
	s.mu.Lock()
	s.watchers = append(s.watchers, fn)
	s.mu.Unlock()
}

// Serve accepts connections on ln until Shutdown or Close; it returns
// transport.ErrServerClosed then.
func (s *Server) Serve(ln net.Listener) error {
	s.warnUnmatchedPools()
	return s.ts.Serve(ln)
}

// Addr returns the address served, or nil before Serve.
func (s *Server) Addr() net.Addr { return s.ts.Addr() }

// Shutdown stops accepting, answers new calls "unavailable" so that callers fail over,
// finishes the calls in flight and writes their responses, then closes.
//
// It returns by the time ctx ends, whatever the handlers do. When ctx ends before the
// calls in flight finished, the calls still waiting for a worker are dropped unrun,
// every connection closes, which cancels the contexts of the handlers still running,
// and the error is a *transport.ShutdownError that says how many handlers it cut
// (those of open streams included), how many still ran when it returned, and how many
// calls it dropped. Those handlers go on in their goroutines until they return: Close
// waits for them. When it begins, the whole server becomes NOT_SERVING for good, for
// health checks, probes and a registry alike, and the health Watch calls waiting
// answer at once.
func (s *Server) Shutdown(ctx context.Context) error {
	s.health.stop()
	return s.ts.Shutdown(ctx)
}

// Close closes every connection at once, drops the calls waiting for a worker, and
// waits for the running handlers to return. The whole server becomes NOT_SERVING, as
// at Shutdown.
func (s *Server) Close() error {
	s.health.stop()
	return s.ts.Close()
}

// builtin returns the service every server answers by that name, or nil.
func (s *Server) builtin(name string) *service {
	switch name {
	case IntrospectionService:
		return s.introspection
	case HealthService:
		return s.healthSvc
	}
	return nil
}

// process is the transport processor of RPC requests: find, decode, run, answer.
func (s *Server) process(ctx context.Context, conn *transport.Conn, req *transport.Command) (*transport.Command, error) {
	name := interfaceOf(req.ExtFields)
	svc := (*s.services.Load())[name]
	if svc == nil {
		svc = s.builtin(name)
	}
	if svc == nil {
		return s.reject(req, CodeServiceNotFound, fmt.Sprintf("service %q is not served at %s: check the service name, or register it on the provider", name, conn.LocalAddr()))
	}
	return s.processIn(ctx, conn, req, svc)
}

// processIn runs a request for svc: the processor of svc's own pool.
func (s *Server) processIn(ctx context.Context, conn *transport.Conn, req *transport.Command, svc *service) (*transport.Command, error) {
	method := req.ExtFields.Get(HeaderMethod)
	m := svc.methods[method]
	if m == nil {
		return s.reject(req, CodeMethodNotFound, fmt.Sprintf("service %s has no method %q: the caller and the provider were generated from different interfaces", svc.desc.Name, method))
	}
	return s.run(ctx, conn, req, svc, m)
}

// run runs a request for m of svc: the processor of m's own pool.
func (s *Server) run(ctx context.Context, conn *transport.Conn, req *transport.Command, svc *service, m *method) (*transport.Command, error) {
	deadline, timed := requestDeadline(req)
	if resp := s.refuse(ctx, conn, req, svc.desc, m.desc, deadline); resp != nil {
		// The method's figures first: who reads the server's sees the method's too.
		if s.countMethods.Load() {
			m.stats.recordRefused(req, resp)
		}
		switch resp.Code {
		case toWire(CodeDeadlineExceeded):
			s.expired.Add(1)
		case toWire(CodeCanceled):
			s.cancelled.Add(1)
		}
		return resp, nil
	}
	call := getCall(svc.desc, m.desc)
	call.server = true
	call.peer = conn.Peer()
	call.handler = m.handler
	call.dec.start(req.Body, true)
	call.dec.m = m.desc
	call.res.reset(call.body, m.desc.resultsArray())
	call.res.describe(m.desc, true)

	// Only fields beyond the interface, method and timeout can be metadata.
	known := 2
	if timed {
		known++
	}
	var in Metadata
	if len(req.ExtFields) > known {
		in = takeMetadata(req.ExtFields)
	}
	cctx := newCallCtx(ctx, deadline, in, call.peer)
	var err error
	if m.desc.IsStream() {
		err = s.invokeStream(cctx, conn, req, call)
	} else {
		err = s.invoke(cctx, call)
	}
	if s.countMethods.Load() {
		m.stats.record(req.ReceivedAt(), err)
	}
	out := cctx.release()
	if !req.IsOneway() {
		s.respond(conn, req, call, err, out)
	}
	putCall(call)
	return nil, nil
}

// requestDeadline returns the caller's deadline, counted from the request's arrival
// (queueing included), and whether the request carried one.
func requestDeadline(req *transport.Command) (deadline time.Time, timed bool) {
	ms, timed := req.ExtFields.Lookup(headerTimeout)
	if !timed {
		return deadline, false
	}
	// Beyond what a time.Duration holds (some 292 years) is no deadline: a caller's
	// "never" (Java's Long.MAX_VALUE) must not wrap around into the past.
	if n, err := strconv.ParseInt(ms, 10, 64); err == nil && n > 0 && n <= math.MaxInt64/int64(time.Millisecond) {
		start := req.ReceivedAt()
		if start.IsZero() {
			start = time.Now()
		}
		deadline = start.Add(time.Duration(n) * time.Millisecond)
	}
	return deadline, true
}

// refuse answers a call that must not run: its deadline passed, or its caller
// cancelled it, while it waited for a worker. It returns nil for a call to run. The
// deadline is looked at first: a ringrpc client sends a cancel notice when its
// deadline passes, so a call that expired in the queue is cancelled too by then. That
// notice says the deadline passed (the context's error is DeadlineExceeded), which
// counts as this provider's own clock does: the provider starts the deadline as the
// request arrives, a little after its caller did. A
// stream whose opener broke the protocol before its handler started is answered as
// one that broke it later: its opener cancelled nothing.
func (s *Server) refuse(ctx context.Context, conn *transport.Conn, req *transport.Command, svc *ServiceDesc, m *MethodDesc, deadline time.Time) *transport.Command {
	ended := ctx.Err()
	// The deadline carries a monotonic reading: time.Until reads only the monotonic
	// clock, which costs less than the wall clock time.Now also reads.
	if ended == context.DeadlineExceeded || !deadline.IsZero() && time.Until(deadline) <= 0 {
		waited := time.Since(req.ReceivedAt()).Milliseconds()
		return transport.NewResponse(req, toWire(CodeDeadlineExceeded), fmt.Sprintf("%s.%s expired in the provider's queue after %d ms, before a worker took it: give the call a longer deadline, or the provider more workers (rpc.ServerOptions.Workers) or fewer callers", svc.Name, m.Name, waited))
	}
	if ended != nil {
		if st := conn.InboundStream(req); st != nil {
			if e := protocolBreak(svc, m, st); e != nil {
				return transport.NewResponse(req, toWire(e.Code), e.Message)
			}
		}
		return transport.NewResponse(req, toWire(CodeCanceled), fmt.Sprintf("%s.%s was cancelled by its caller before it started", svc.Name, m.Name))
	}
	return nil
}

// call is the innermost server invoker: the handler, with panics turned into errors.
func (s *Server) call(ctx context.Context, call *Call) (err error) {
	if call.m.IsStream() {
		// Innermost, so that interceptors see what the stream's figures count; and
		// deferred before the recover, so that it runs after it: a handler that
		// panicked on a stream already cut has the stream's outcome too.
		if ss := serverStreamOf(ctx); ss != nil {
			defer func() { err = ss.result(ctx, err) }()
		}
	}
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("rpc: handler panicked", "service", call.svc.Name, "method", call.m.Name, "panic", r, "stack", string(debug.Stack()))
			err = Errorf(CodeInternal, "%s.%s panicked: %v", call.svc.Name, call.m.Name, r)
		}
	}()
	if err = call.handler(ctx, &call.dec, &call.res); err == nil {
		err = s.resultsError(call)
	}
	return err
}

// responseHeaderRoom is what a response's body leaves of MaxFrameSize for its frame's
// header, as a stream's message does.
const responseHeaderRoom = 512

// resultsError returns why the results a handler wrote cannot reach its caller: they
// did not encode, or they are too large for a frame. Found here, inside the
// interceptors, the caller's failure is what they and the method's figures see.
func (s *Server) resultsError(call *Call) error {
	body, err := call.res.finish()
	if err != nil {
		return Errorf(CodeInternal, "encoding the results of %s.%s: %v", call.svc.Name, call.m.Name, err)
	}
	if limit := s.maxFrame - responseHeaderRoom; len(body) > limit {
		return Errorf(CodeInternal, "the results of %s.%s take %d bytes, and a response may take %d (transport.ConnOptions.MaxFrameSize less %d bytes for its header): return less, or raise MaxFrameSize on both peers", call.svc.Name, call.m.Name, len(body), limit, responseHeaderRoom)
	}
	return nil
}

func (s *Server) respond(conn *transport.Conn, req *transport.Command, call *Call, err error, out Metadata) {
	// The pooled call's command serves as the response: WriteResponse encodes it
	// before it returns, and the call is not reused before then.
	call.cmd = transport.Command{} // cleared in place, then filled: cheaper than copying a literal
	resp := &call.cmd
	resp.Code = transport.CodeSuccess
	if err == nil {
		body, encErr := call.res.finish()
		call.body = body
		if encErr != nil {
			err = Errorf(CodeInternal, "encoding the results of %s.%s: %v", call.svc.Name, call.m.Name, encErr)
		} else {
			resp.Body = body
		}
	}
	if err != nil {
		code := CodeOf(err)
		resp.Code, resp.Remark, resp.Body = toWire(code), errorMessage(err), nil
	}
	if len(out) > 0 {
		call.ext = putMetadata(call.ext[:0], out)
		resp.ExtFields = call.ext
	}
	if werr := conn.WriteResponse(req, resp); werr != nil && !errors.Is(werr, transport.ErrClosed) {
		s.log.Warn("rpc: writing a response failed", "service", call.svc.Name, "method", call.m.Name, "err", werr)
	}
}

// errorMessage is what the caller reads: an *Error's own message, else the text.
func errorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return err.Error()
}

func (s *Server) reject(req *transport.Command, code Code, msg string) (*transport.Command, error) {
	return transport.NewResponse(req, toWire(code), msg), nil
}
