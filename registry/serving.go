package registry

import (
	"slices"

	"github.com/ringrpc/ringrpc/rpc"
)

// serviceServingChanged follows the health status of one of the server's services: a
// provider whose service is not SERVING leaves that service's ring, and only that
// one, and takes its keys back when SERVING again. The change travels in the catalog,
// whose new version the metadata announces. Calls in flight are not touched, and
// calls that still arrive are served: no call fails for it.
//
// It reads the status from the server, under r.mu, rather than take the one it was
// handed: two changes set at once may reach it in either order, and the last to take
// the lock then sees the status the server ended with.
func (r *Registry) serviceServingChanged(service string) {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	st, ok := r.opts.Server.ServingStatus(service)
	i, out := slices.BinarySearch(r.own.notServing, service)
	if !ok || out == (st != rpc.StatusServing) { // a service with no status yet is left as it is
		r.mu.Unlock()
		return
	}
	next := slices.Clone(r.own.notServing)
	if out {
		next = slices.Delete(next, i, i+1)
	} else {
		next = slices.Insert(next, i, service)
	}
	r.own.notServing = next
	r.own.version++
	r.mu.Unlock()
	r.log.Info("registry: serving status of a service changed", "node", r.opts.NodeName, "service", service, "status", st.String())
	r.applyCatalog(r.ownCatalog())
	r.announceSoon()
}

// initialNotServing returns, sorted, the services of the server that are not
// SERVING when it joins.
func initialNotServing(s *rpc.Server, services []string) []string {
	var out []string
	for _, name := range services {
		if st, ok := s.ServingStatus(name); ok && st != rpc.StatusServing {
			out = append(out, name)
		}
	}
	return out
}

// resyncServing catches up with the statuses of the server's services.
func (r *Registry) resyncServing() {
	for _, name := range r.ownCatalog().services {
		r.serviceServingChanged(name)
	}
}

// notServingWith returns notServing with service added, sorted, when the server
// says it is not SERVING: a service may be set NOT_SERVING before it registers.
func notServingWith(s *rpc.Server, notServing []string, service string) []string {
	st, ok := s.ServingStatus(service)
	i, found := slices.BinarySearch(notServing, service)
	if !ok || st == rpc.StatusServing || found {
		return notServing
	}
	return slices.Insert(slices.Clone(notServing), i, service)
}
