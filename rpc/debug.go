package rpc

import (
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/ringrpc/ringrpc/internal/debugpage"
)

// MethodStats returns what the server counted for each method of its registered
// services, sorted by service and method. The server counts from the first call of
// MethodStats or DebugHandler on (the first returns zeros): until then calls pay
// nothing for the figures.
func (s *Server) MethodStats() []MethodStats {
	s.countFromNow()
	var out []MethodStats
	for _, svc := range *s.services.Load() {
		for name, m := range svc.methods {
			st := m.stats.snapshot(svc.desc.Name, name)
			st.Since = s.countSince
			out = append(out, st)
		}
	}
	slices.SortFunc(out, func(a, b MethodStats) int {
		if c := strings.Compare(a.Service, b.Service); c != 0 {
			return c
		}
		return strings.Compare(a.Method, b.Method)
	})
	return out
}

// countFromNow has calls counted per method from now on.
func (s *Server) countFromNow() {
	if !s.countMethods.Load() {
		s.countOnce.Do(func() {
			s.countSince = time.Now()
			s.countMethods.Store(true)
		})
	}
}

// DebugHandler returns an http.Handler for a page (by convention at
// /debug/ringrpc) that shows the server's health statuses, each method's calls,
// errors by code and latency percentiles, and its connections with the requests
// they are handling; ?format=json gives the same as JSON. A registry's
// DebugHandler shows all this and the cluster. The page shows where the server
// listens and who calls it: serve it on an internal port only.
func (s *Server) DebugHandler() http.Handler {
	s.countFromNow()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := &debugpage.Page{Title: "ringrpc server", Generated: time.Now(), Health: s.debugHealth(),
			Conns: debugpage.Conns("in", s.ts.Conns())}
		p.Methods, p.CountedSince = debugMethods(s.MethodStats())
		if a := s.Addr(); a != nil {
			p.Addr = a.String()
		}
		debugpage.Serve(w, r, p)
	})
}

// debugHealth lists the statuses set for the whole server, first, and for each
// service it serves, as a registry's page does: a status set for a service not
// registered is not the service's until it registers (health checks answer
// service_not_found meanwhile).
func (s *Server) debugHealth() []debugpage.Health {
	services := *s.services.Load()
	s.health.mu.Lock()
	out := make([]debugpage.Health, 0, len(services)+1)
	for svc, st := range s.health.status {
		if _, served := services[svc]; served || svc == "" {
			out = append(out, debugpage.Health{Service: svc, Status: st.String()})
		}
	}
	s.health.mu.Unlock()
	slices.SortFunc(out, func(a, b debugpage.Health) int { return strings.Compare(a.Service, b.Service) })
	return out
}

// debugMethods returns the methods' figures, and since when they are counted.
func debugMethods(ms []MethodStats) ([]debugpage.Method, time.Time) {
	out := make([]debugpage.Method, len(ms))
	for i, m := range ms {
		out[i] = debugpage.Method{Service: m.Service, Method: m.Method, Calls: m.Calls, Errors: m.Errors,
			ErrorRate: m.ErrorRate(), Codes: m.Codes, P50: m.P50, P90: m.P90, P99: m.P99}
	}
	if len(ms) == 0 {
		return out, time.Time{}
	}
	return out, ms[0].Since
}
