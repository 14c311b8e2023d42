package rpc

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/ringrpc/ringrpc/transport"
)

// HealthService is the service every Server answers, like grpc.health.v1: Check
// returns the serving status of one service, or of the whole server for "", and Watch
// waits for it to change.
const HealthService = "ringrpc.Health"

// ServingStatus is what a server says of itself or of one of its services.
type ServingStatus int32

// The statuses. A server starts SERVING, and so do its services when registered.
const (
	StatusUnknown    ServingStatus = 0
	StatusServing    ServingStatus = 1
	StatusNotServing ServingStatus = 2
)

// String returns SERVING, NOT_SERVING or UNKNOWN.
func (s ServingStatus) String() string {
	switch s {
	case StatusServing:
		return "SERVING"
	case StatusNotServing:
		return "NOT_SERVING"
	}
	return "UNKNOWN"
}

var healthDesc = ServiceDesc{
	Name: HealthService,
	Methods: []MethodDesc{
		{Name: "Check", Params: []Param{{Name: "service", Type: "string"}}, Results: []string{"rpc.ServingStatus"}, Idempotent: true},
		{Name: "Watch", Params: []Param{{Name: "service", Type: "string"}, {Name: "last", Type: "rpc.ServingStatus"}}, Results: []string{"rpc.ServingStatus"}, Idempotent: true},
	},
}

// The health service runs on workers of its own, so that Watch calls, which wait,
// never take the workers of the services. Of its workers, at most maxWatchers wait
// in Watch at once: the others answer Check at once, and refuse the Watch calls
// beyond them as busy.
const (
	healthWorkers = 16
	healthQueue   = 1024
	maxWatchers   = 8
	// maxWatchWait bounds a Watch's wait, whatever its deadline: a caller without one
	// (a foreign client) is answered too, and a graceful shutdown waits no longer.
	maxWatchWait = time.Minute
)

// health holds the serving statuses of a server: "" for the server itself, and the
// statuses of services, registered or not yet.
type health struct {
	mu       sync.Mutex
	status   map[string]ServingStatus
	changed  chan struct{} // closed and replaced at every change: Watch waits on it
	watchers statusWatchers
	waiting  int           // Watch calls waiting, at most maxWatchers
	maxWait  time.Duration // maxWatchWait; shorter in tests
	stopping chan struct{} // closed when the server shuts down: Watch answers then
	stopped  bool          // stopping is closed: "" stays NOT_SERVING
}

func newHealth() *health {
	return &health{status: map[string]ServingStatus{"": StatusServing}, changed: make(chan struct{}),
		maxWait: maxWatchWait, stopping: make(chan struct{})}
}

// stop makes the whole server NOT_SERVING for good, as gRPC's health server does at
// shutdown, so that Check, the probe and routing agree with Watch while the calls in
// flight drain; and it answers the Watch calls waiting, since a graceful shutdown
// waits for its handlers and a Watch would hold it up to maxWatchWait.
func (h *health) stop() {
	h.mu.Lock()
	if h.stopped {
		h.mu.Unlock()
		return
	}
	// Before stopping closes: a Watch woken by it reads NOT_SERVING.
	notify := h.putLocked("", StatusNotServing, false)
	h.stopped = true
	close(h.stopping)
	h.mu.Unlock()
	notify.notify("", StatusNotServing)
}

// get returns the status of service and whether one was set.
func (h *health) get(service string) (ServingStatus, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	st, ok := h.status[service]
	return st, ok
}

// set gives service the status st.
func (h *health) set(service string, st ServingStatus) {
	h.put(service, st, false).notify(service, st)
}

// put gives service the status st, as set does, and returns the OnServingStatus
// callbacks to call, outside any lock: nil when nothing changed.
func (h *health) put(service string, st ServingStatus, keep bool) statusWatchers {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.putLocked(service, st, keep)
}

// putLocked is put with mu held.
func (h *health) putLocked(service string, st ServingStatus, keep bool) statusWatchers {
	if old, ok := h.status[service]; ok && (old == st || keep) || service == "" && h.stopped {
		return nil
	}
	h.status[service] = st
	h.wakeLocked()
	return h.watchers
}

// statusWatchers are OnServingStatus callbacks.
type statusWatchers []func(service string, status ServingStatus)

// notify calls the callbacks. Outside the lock, so two changes may reach a callback
// in either order: it reads the status again (OnServingStatus).
func (ws statusWatchers) notify(service string, st ServingStatus) {
	for _, w := range ws {
		w(service, st)
	}
}

// wake wakes the Watch calls waiting, to look again: a service they watch may have
// registered, which changes what they report though no status changed.
func (h *health) wake() {
	h.mu.Lock()
	h.wakeLocked()
	h.mu.Unlock()
}

// wakeLocked wakes the Watch calls waiting on changed. mu is held.
func (h *health) wakeLocked() {
	close(h.changed)
	h.changed = make(chan struct{})
}

// SetServingStatus sets the status that health checks report for service, or for the
// whole server when service is "". A registry gossips the statuses: a server that is
// not SERVING leaves every ring, and a service that is not SERVING takes the provider
// out of that service's ring only; either way the provider stays a member, calls in
// flight finish, calls that still arrive are served, and it takes its keys back when
// SERVING again. The status of a service not registered yet holds once it registers;
// until then health checks answer that the server does not serve it. Once Shutdown or
// Close began, the whole server is NOT_SERVING and a status set for "" is ignored.
func (s *Server) SetServingStatus(service string, status ServingStatus) {
	s.health.set(service, status)
}

// ServingStatus returns the status set for service ("" for the whole server): by
// SetServingStatus, SERVING when it registered, or NOT_SERVING for "" once Shutdown
// or Close began; false when none was set. Health
// checks report a service's status as the whole server's while that is not SERVING,
// and a service not registered as not served, whatever was set.
func (s *Server) ServingStatus(service string) (ServingStatus, bool) {
	return s.health.get(service)
}

// OnServingStatus calls fn, in the goroutine that set it, each time a status changes.
// It is how a registry hears of them. When two goroutines set statuses at once, their
// calls of fn may come in either order: fn reads ServingStatus for the status now.
func (s *Server) OnServingStatus(fn func(service string, status ServingStatus)) {
	s.health.mu.Lock()
	s.health.watchers = append(s.health.watchers, fn)
	s.health.mu.Unlock()
}

// reported returns the status health checks report for service, whether the server
// serves it, and a channel closed at the next change. A service's status is the
// whole server's while that is not SERVING, as routing has it.
func (s *Server) reported(service string) (ServingStatus, bool, <-chan struct{}) {
	h := s.health
	h.mu.Lock()
	defer h.mu.Unlock()
	st, ok := h.status[service]
	if service != "" {
		if _, served := (*s.services.Load())[service]; !served {
			return StatusUnknown, false, h.changed
		}
		if whole := h.status[""]; whole != StatusServing {
			st = whole
		}
	}
	return st, ok, h.changed
}

// serveHealth makes the health service and its own pool of workers, and has shared,
// the options of the shared pool, hand it the health service's requests.
func (s *Server) serveHealth(shared *transport.PoolOptions) {
	s.health = newHealth()
	s.healthSvc = &service{desc: &healthDesc, methods: map[string]*method{
		"Check": {desc: &healthDesc.Methods[0], handler: s.checkHealth},
		"Watch": {desc: &healthDesc.Methods[1], handler: s.watchHealth},
	}}
	// Cannot fail: the processor is given.
	s.healthSvc.pool, _ = s.ts.NewPool(transport.ProcessorFunc(func(ctx context.Context, conn *transport.Conn, req *transport.Command) (*transport.Command, error) {
		return s.process(ctx, conn, req) // by the name selectHealth read: interfaceOf
	}), transport.PoolOptions{Workers: healthWorkers, QueueSize: healthQueue, ReuseRequests: true})
	shared.Select = s.selectHealth
	if len(s.pools) > 0 {
		shared.Select = s.selectPool // the health service's pool included
	}
}

// selectHealth picks the health service's pool for its requests, on the connection's
// reader: nil for the others. It reads the service name as process does
// (interfaceOf).
func (s *Server) selectHealth(req *transport.Command) *transport.Pool {
	if interfaceOf(req.ExtFields) == HealthService {
		return s.healthSvc.pool
	}
	return nil
}

// interfaceOf returns the service a request names, the one reading for both picking
// its pool (selectHealth, selectPool) and running it (process), so that a request
// runs on the pool of the service it runs: the last field of the name, as a key that
// appears twice keeps its later value (docs/PROTOCOL.md).
func interfaceOf(f transport.Fields) string { return f.Get(HeaderInterface) }

// checkHealth answers Check: the status, or service_not_found.
func (s *Server) checkHealth(_ context.Context, args *Decoder, res *Encoder) error {
	var service string
	args.String(&service)
	if err := args.Finish(); err != nil {
		return err
	}
	st, ok, _ := s.reported(service)
	if !ok {
		return Errorf(CodeServiceNotFound, "no health status for service %q: it is not served here", service)
	}
	EncodeInt(res, st)
	return nil
}

// watchHealth answers Watch: the status as soon as it differs from last, or the
// current one when the caller's deadline comes first (less a margin, so that the
// answer arrives in time) or when maxWatchWait passed. It refuses, with an error the
// caller can back off on, a Watch beyond maxWatchers waiting, a Watch of a service
// not served unless last is UNKNOWN, and, once the server shuts down, a Watch that
// has nothing new to say: answering the status the caller has would have a caller
// that loops on Watch call again at once, for ever.
func (s *Server) watchHealth(ctx context.Context, args *Decoder, res *Encoder) error {
	var service string
	var last ServingStatus
	args.String(&service)
	DecodeInt(args, &last)
	if err := args.Finish(); err != nil {
		return err
	}
	st, ok, changed := s.reported(service)
	switch {
	case !ok && last != StatusUnknown:
		return Errorf(CodeServiceNotFound, "no health status for service %q: it is not served here; Watch with last UNKNOWN waits for it to register", service)
	case st != last:
		EncodeInt(res, st)
		return nil
	}
	wait, err := s.health.beginWatch(ctx)
	if err != nil {
		return err
	}
	defer s.health.endWatch()
	t := time.NewTimer(wait)
	defer t.Stop()
	for st == last {
		select {
		case <-changed:
		case <-t.C:
			EncodeInt(res, st)
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case <-s.health.stopping:
			if st, _, _ = s.reported(service); st == last {
				return errShuttingDown()
			}
		}
		st, _, changed = s.reported(service)
	}
	EncodeInt(res, st)
	return nil
}

// errShuttingDown answers a Watch with nothing new to say once the server shuts down.
func errShuttingDown() error {
	return Errorf(CodeUnavailable, "health: the server is shutting down and stays NOT_SERVING: watch another provider")
}

// beginWatch counts a Watch call that waits, and returns how long it may wait:
// until just before the caller's deadline, and at most maxWait. It refuses the
// Watch once the server began to shut down, or when maxWatchers wait already.
func (h *health) beginWatch(ctx context.Context) (time.Duration, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case h.stopped:
		return 0, errShuttingDown()
	case h.waiting >= maxWatchers:
		return 0, Errorf(CodeBusy, "health: %d Watch calls wait on this server already, the most it serves: call again later, after a pause, or use Check", maxWatchers)
	}
	h.waiting++
	wait := h.maxWait
	if dl, ok := ctx.Deadline(); ok {
		left := time.Until(dl)
		wait = min(wait, left-left/10)
	}
	return wait, nil
}

func (h *health) endWatch() {
	h.mu.Lock()
	h.waiting--
	h.mu.Unlock()
}

// CheckHealth asks the provider the resolver picks for the serving status of service,
// or of the whole server for "".
func (c *Client) CheckHealth(ctx context.Context, service string) (ServingStatus, error) {
	call := c.NewCall(&healthDesc, 0)
	call.Args.String(service)
	d, err := c.Invoke(ctx, call)
	if err != nil {
		return StatusUnknown, err
	}
	var st ServingStatus
	DecodeInt(&d, &st)
	return st, d.Finish()
}

// WatchHealth waits until the status of service ("" for the whole server) differs
// from last, and returns the status then; without a change, it returns the status
// once ctx's deadline nears (at 90% of what was left) or after a minute, whichever
// comes first: call again to keep watching. It returns at once, with an error:
//   - CodeBusy (ErrBusy) when 8 Watch calls wait on the provider already, the most
//     it serves: call again after a pause, or use CheckHealth;
//   - CodeServiceNotFound (ErrServiceNotFound) for a service the provider does not
//     serve, as CheckHealth does, unless last is StatusUnknown: it then waits for the
//     service to register, and answers its status then;
//   - CodeUnavailable once the provider is shutting down and the status is last
//     already. A Watch waiting when Shutdown begins answers NOT_SERVING at once,
//     the status the whole server has from then on, or this error when last was
//     that already or it waits for a service that never registered. Close closes
//     the connection as it wakes the Watch, which may then end with the connection
//     lost (CodeUnavailable) instead.
func (c *Client) WatchHealth(ctx context.Context, service string, last ServingStatus) (ServingStatus, error) {
	call := c.NewCall(&healthDesc, 1)
	call.Args.String(service)
	EncodeInt(&call.Args, last)
	d, err := c.Invoke(ctx, call)
	if err != nil {
		return StatusUnknown, err
	}
	var st ServingStatus
	DecodeInt(&d, &st)
	return st, d.Finish()
}

// HealthHandler returns an http.Handler for liveness and readiness probes: it answers
// 200 and the status when the server (or the service named by the query parameter
// "service") is SERVING, and 503 otherwise; 404 for a service it does not serve. A
// service is reported as the whole server while that is not SERVING.
func (s *Server) HealthHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		service := r.URL.Query().Get("service")
		st, ok, _ := s.reported(service)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		switch {
		case !ok:
			w.WriteHeader(http.StatusNotFound)
		case st != StatusServing:
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		fmt.Fprintln(w, st)
	})
}
