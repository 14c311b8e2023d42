package rpc

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"
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

// health holds the serving statuses of a server: "" for the server itself.
type health struct {
	mu       sync.Mutex
	status   map[string]ServingStatus
	changed  chan struct{} // closed and replaced at every change: Watch waits on it
	watchers []func(service string, status ServingStatus)
}

func newHealth() *health {
	return &health{status: map[string]ServingStatus{"": StatusServing}, changed: make(chan struct{})}
}

// get returns the status of service and whether the server knows it.
func (h *health) get(service string) (ServingStatus, bool, <-chan struct{}) {
	h.mu.Lock()
	defer h.mu.Unlock()
	st, ok := h.status[service]
	return st, ok, h.changed
}

func (h *health) set(service string, st ServingStatus) {
	h.mu.Lock()
	if old, ok := h.status[service]; ok && old == st {
		h.mu.Unlock()
		return
	}
	h.status[service] = st
	close(h.changed)
	h.changed = make(chan struct{})
	watchers := h.watchers
	h.mu.Unlock()
	for _, w := range watchers {
		w(service, st)
	}
}

// SetServingStatus sets the status that health checks report for service, or for the
// whole server when service is "". A registry gossips the statuses: a server that is
// not SERVING leaves every ring, and a service that is not SERVING takes the provider
// out of that service's ring only; either way the provider stays a member, calls in
// flight finish, calls that still arrive are served, and it takes its keys back when
// SERVING again.
func (s *Server) SetServingStatus(service string, status ServingStatus) {
	s.health.set(service, status)
}

// ServingStatus returns the status health checks report for service ("" for the whole
// server), and false for a service the server does not serve.
func (s *Server) ServingStatus(service string) (ServingStatus, bool) {
	st, ok, _ := s.health.get(service)
	return st, ok
}

// OnServingStatus calls fn, in the goroutine that set it, each time a status changes.
// It is how a registry hears of them.
func (s *Server) OnServingStatus(fn func(service string, status ServingStatus)) {
	s.health.mu.Lock()
	s.health.watchers = append(s.health.watchers, fn)
	s.health.mu.Unlock()
}

// checkHealth answers Check: the status, or service_not_found.
func (s *Server) checkHealth(_ context.Context, args *Decoder, res *Encoder) error {
	var service string
	args.String(&service)
	if err := args.Finish(); err != nil {
		return err
	}
	st, ok, _ := s.health.get(service)
	if !ok {
		return Errorf(CodeServiceNotFound, "no health status for service %q: it is not served here", service)
	}
	EncodeInt(res, st)
	return nil
}

// watchHealth answers Watch: the status as soon as it differs from last, or the
// current one when the caller's deadline comes first (less a margin, so that the
// answer arrives in time).
func (s *Server) watchHealth(ctx context.Context, args *Decoder, res *Encoder) error {
	var service string
	var last ServingStatus
	args.String(&service)
	DecodeInt(args, &last)
	if err := args.Finish(); err != nil {
		return err
	}
	var wait <-chan time.Time
	if dl, ok := ctx.Deadline(); ok {
		left := time.Until(dl)
		t := time.NewTimer(left - left/10)
		defer t.Stop()
		wait = t.C
	}
	for {
		st, ok, changed := s.health.get(service)
		if !ok {
			st = StatusUnknown
		}
		if st != last {
			EncodeInt(res, st)
			return nil
		}
		select {
		case <-changed:
		case <-wait:
			EncodeInt(res, st)
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
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

// WatchHealth waits until the status of service differs from last, or until ctx's
// deadline nears, and returns the status then.
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
// "service") is SERVING, and 503 otherwise; 404 for a service it does not serve.
func (s *Server) HealthHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		service := r.URL.Query().Get("service")
		st, ok := s.ServingStatus(service)
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
