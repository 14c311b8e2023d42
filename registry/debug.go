package registry

import (
	"fmt"
	"maps"
	"net/http"
	"slices"
	"time"

	"github.com/ringrpc/ringrpc/internal/debugpage"
	"github.com/ringrpc/ringrpc/rpc"
)

// DebugHandler returns an http.Handler for a page (by convention at
// /debug/ringrpc) that shows the cluster as this node sees it: the members and
// their state, each service's providers and its ring drawn as a circle of
// partitions coloured by owner, with each owner's share; and, for Options.Server,
// its health statuses, each method's calls, errors by code and latency
// percentiles, and its connections; and the connections of the given clients with
// their pending calls. ?format=json gives the same as JSON.
//
// The page exposes the cluster's topology and addresses: serve it on an internal
// port only, never where the services' callers can reach it.
func (r *Registry) DebugHandler(clients ...*rpc.Client) http.Handler {
	if s := r.opts.Server; s != nil {
		s.MethodStats() // the server counts from now on
	}
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		debugpage.Serve(w, req, r.debugPage(clients))
	})
}

func (r *Registry) debugPage(clients []*rpc.Client) *debugpage.Page {
	snap := r.snap.Load() // one snapshot for the whole page
	p := &debugpage.Page{Title: "ringrpc: " + r.opts.NodeName, Node: r.opts.NodeName, Addr: r.opts.RPCAddr,
		Generated: time.Now(), Registry: true, Members: r.debugMembers(snap), Services: debugServices(snap)}
	if s := r.opts.Server; s != nil {
		p.Health = debugHealth(s, r.ownCatalog().services)
		p.Methods, p.CountedSince = debugMethods(s.MethodStats())
		p.Conns = debugpage.Conns("in", s.Transport().Conns())
	}
	for _, c := range clients {
		p.Conns = append(p.Conns, debugpage.Conns("out", c.Transport().Conns())...)
	}
	return p
}

// debugMembers lists the members with what only this node's state holds: which
// services each one does not serve.
func (r *Registry) debugMembers(snap *snapshot) []debugpage.Member {
	r.mu.Lock()
	notServing := make(map[string][]string, len(r.nodes))
	for name, ns := range r.nodes {
		switch {
		case ns.meta.flags&metaNotServing != 0:
			notServing[name] = []string{"*"}
		case ns.cat != nil:
			notServing[name] = ns.cat.notServing
		}
	}
	r.mu.Unlock()
	out := make([]debugpage.Member, len(snap.members))
	for i, m := range snap.members {
		out[i] = debugpage.Member{Name: m.Name, State: m.State.String(), GossipAddr: m.GossipAddr, RPCAddr: m.RPCAddr,
			Services: m.Services, NotServing: notServing[m.Name], Leaving: m.Leaving, Self: m.Name == r.opts.NodeName}
	}
	return out
}

// debugServices describes each service's ring, partition by partition.
func debugServices(snap *snapshot) []debugpage.Service {
	names := slices.Sorted(maps.Keys(snap.services))
	out := make([]debugpage.Service, 0, len(names))
	for _, name := range names {
		sr := snap.services[name]
		svc := debugpage.Service{Name: name, Checksum: fmt.Sprintf("%016x", sr.sum),
			Providers: make([]debugpage.Provider, len(sr.providers)), Owners: make([]int, len(sr.parts))}
		for i, p := range sr.providers {
			svc.Providers[i] = debugpage.Provider{Node: p.node, Addr: p.addr, Partitions: sr.owned[i],
				Share: float64(sr.owned[i]) / float64(sr.partCount), Color: debugpage.Color(i)}
		}
		for p, order := range sr.parts {
			svc.Owners[p] = int(order[0])
		}
		svc.Arcs = debugpage.Arcs(svc.Owners, svc.Providers)
		out = append(out, svc)
	}
	return out
}

// debugHealth lists the server's status and its services'.
func debugHealth(s *rpc.Server, services []string) []debugpage.Health {
	out := make([]debugpage.Health, 0, len(services)+1)
	for _, name := range append([]string{""}, services...) {
		if st, ok := s.ServingStatus(name); ok {
			out = append(out, debugpage.Health{Service: name, Status: st.String()})
		}
	}
	return out
}

// debugMethods returns the methods' figures, and since when they are counted.
func debugMethods(ms []rpc.MethodStats) ([]debugpage.Method, time.Time) {
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
