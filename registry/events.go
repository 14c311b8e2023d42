package registry

import (
	"maps"
	"slices"
	"strings"
)

// EventType is the kind of a membership event.
type EventType int

// The membership events.
const (
	EventJoin    EventType = iota // a node joined
	EventUpdate                   // a node's metadata changed
	EventLeave                    // a node left or was declared dead
	EventCatalog                  // a node's service catalog arrived or changed
)

func (t EventType) String() string {
	switch t {
	case EventJoin:
		return "join"
	case EventUpdate:
		return "update"
	case EventLeave:
		return "leave"
	case EventCatalog:
		return "catalog"
	}
	return "EventType(?)"
}

// Event is a change of membership, with the member as it is after the change.
type Event struct {
	Type   EventType
	Member Member
}

// Watch calls fn for every membership event from now on, until the returned stop is
// called or the registry closes.
//
// Concurrency contract: fn is called from one goroutine, the registry's event
// goroutine, never concurrently with itself or other watchers, in the order the events
// happened. It must not block for long: while it runs, later events wait, and when
// 1024 events are waiting new ones are dropped. fn may call the registry's methods,
// but not stop its own watch.
func (r *Registry) Watch(fn func(Event)) (stop func()) {
	r.watchMu.Lock()
	r.watchSeq++
	id := r.watchSeq
	r.watchers[id] = fn
	r.watchMu.Unlock()
	return func() {
		r.watchMu.Lock()
		delete(r.watchers, id)
		r.watchMu.Unlock()
	}
}

func (r *Registry) emit(e Event) {
	select {
	case r.events <- e:
	default:
		r.log.Warn("registry: event dropped: a Watch callback is too slow", "event", e.Type.String(), "node", e.Member.Name)
	}
}

func (r *Registry) eventLoop() {
	defer r.routines.Done()
	for {
		select {
		case <-r.stop:
			return
		case e := <-r.events:
			r.watchMu.Lock()
			fns := slices.Collect(maps.Values(r.watchers))
			r.watchMu.Unlock()
			for _, fn := range fns {
				fn(e)
			}
		}
	}
}

// Ownership is a provider's share of a service's ring.
type Ownership struct {
	Node       string
	RPCAddr    string
	Partitions int
	Share      float64
}

// Snapshot is a consistent picture of the cluster as this node sees it.
type Snapshot struct {
	Members []Member
	// Services maps each service to its providers' shares of its ring.
	Services map[string][]Ownership
	// Checksums maps each service to the checksum of its ring on this node: two
	// nodes with the same checksum route every key of the service alike.
	Checksums map[string]uint64
	// Digest is a checksum over Checksums. Every node gossips its own, seen by the
	// others as Member.RingDigest.
	Digest uint64
}

// Divergent returns the members whose last gossiped ring digest differs from this
// snapshot's, those whose digest is not known yet left out. Empty means every
// member routes every key as this node does.
func (s Snapshot) Divergent() []Member {
	var out []Member
	for _, m := range s.Members {
		if m.RingDigest != 0 && m.RingDigest != s.Digest {
			out = append(out, m)
		}
	}
	return out
}

// Snapshot returns the members and, per service, the ring ownership this node routes
// by. It takes no lock on the call path.
func (r *Registry) Snapshot() Snapshot {
	snap := r.snap.Load()
	out := Snapshot{Members: slices.Clone(snap.members), Services: map[string][]Ownership{},
		Checksums: make(map[string]uint64, len(snap.services)), Digest: snap.digest}
	for svc, sr := range snap.services {
		out.Checksums[svc] = sr.sum
		owners := make([]Ownership, len(sr.providers))
		for i, p := range sr.providers {
			owners[i] = Ownership{Node: p.node, RPCAddr: p.addr, Partitions: sr.owned[i], Share: float64(sr.owned[i]) / float64(sr.partCount)}
		}
		slices.SortFunc(owners, func(a, b Ownership) int { return strings.Compare(a.Node, b.Node) })
		out.Services[svc] = owners
	}
	return out
}

// Members returns the cluster's members as this node sees them.
func (r *Registry) Members() []Member { return r.Snapshot().Members }

// OnProviderFailed calls fn with the RPC address of each provider that leaves the
// rings because it was found dead (a dead verdict that this node's own check
// confirmed), not because it left gracefully or stopped serving, until stop is
// called. rpc.Client calls it, through rpc.FailureNotifier, to close its connections
// to such a provider. fn runs as a Watch callback does.
func (r *Registry) OnProviderFailed(fn func(addr string)) (stop func()) {
	return r.Watch(func(e Event) {
		if e.Type == EventLeave && !e.Member.Leaving && e.Member.RPCAddr != "" {
			fn(e.Member.RPCAddr)
		}
	})
}
