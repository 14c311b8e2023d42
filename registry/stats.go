package registry

import "time"

// Stats is what a Registry counts, read by Registry.Stats for monitoring. Members
// are as of the last rebuild of the rings; the others are as of the call.
type Stats struct {
	// Alive, Syncing and Doubted are the members, this node included, in each state
	// (see MemberState); members that left are no longer members.
	Alive, Syncing, Doubted int
	// Leaving is the members that announced a graceful leave; they are counted in
	// their state too.
	Leaving int
	// RingRebuilds counts the service rings rebuilt since Join because the service's
	// providers changed: a service that gains its first provider, or loses its last,
	// counts too. Each is logged at INFO.
	RingRebuilds uint64
	// Isolated is the number of providers in isolation now: a call to them failed
	// within Options.Isolation, and they are tried last.
	Isolated int
}

// Stats returns what the registry counts. It takes no lock a call takes.
func (r *Registry) Stats() Stats {
	st := Stats{RingRebuilds: r.ringRebuilds.Load()}
	for _, m := range r.snap.Load().members {
		switch m.State {
		case StateAlive:
			st.Alive++
		case StateSyncing:
			st.Syncing++
		case StateDoubted:
			st.Doubted++
		}
		if m.Leaving {
			st.Leaving++
		}
	}
	now := time.Now().UnixNano()
	r.isolated.Range(func(_, until any) bool {
		if until.(int64) > now {
			st.Isolated++
		}
		return true
	})
	return st
}
