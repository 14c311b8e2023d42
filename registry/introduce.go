package registry

import (
	"time"

	"github.com/hashicorp/memberlist"
)

// Introductions. Gossip brings the news of a join to almost every member within a
// few gossip intervals, but now and then one member hears of it seconds later: a
// member that joined just before is known to few others, who gossip to it little.
// Right after its join, a node asks every member it learnt of for its catalog, and
// every node gossips its ring digest with its address. A member that hears so
// from a node it does not know, and still does not know it introWait later,
// exchanges state with it, which brings the news at once.

// maxStrangers bounds the askers waiting for their check.
const maxStrangers = 1024

// stranger is a node heard from (a catalog request, a ring digest) before gossip
// said it joined.
type stranger struct {
	name string
	addr string // gossip address
	due  time.Time
}

// introWait is how long gossip has to bring news of an asker before this node
// asks the asker itself: five gossip intervals (100 ms with Fast, 500 ms with
// Local, 1 s with LAN), in which gossip reaches nearly every member.
func (r *Registry) introWait() time.Duration { return 5 * r.opts.ml.GossipInterval }

// isMember reports whether gossip has told this node that name joined.
func (r *Registry) isMember(name string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	ns := r.nodes[name]
	return ns != nil && ns.gossip != ""
}

// noteStranger queues a check of a node heard from, at the gossip address ip and
// port, when it is not a member yet. It never blocks: it runs on memberlist's
// goroutines.
func (r *Registry) noteStranger(name string, ip []byte, port uint16) {
	if name == r.opts.NodeName || r.isMember(name) {
		return
	}
	r.queueStranger(name, ip, port)
}

// queueStranger queues the check of a node found not to be a member.
func (r *Registry) queueStranger(name string, ip []byte, port uint16) {
	addr := (&memberlist.Node{Addr: ip, Port: port}).Address()
	select {
	case r.strangers <- stranger{name: name, addr: addr, due: time.Now().Add(r.introWait())}:
	default: // too many at once: gossip and push/pull bring them later
	}
}

// introduceLoop checks the askers gossip has not brought news of in time, and
// exchanges state with those still unknown.
func (r *Registry) introduceLoop() {
	defer r.routines.Done()
	pending := map[string]stranger{}
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case s := <-r.strangers:
			if _, ok := pending[s.name]; !ok && len(pending) < maxStrangers {
				pending[s.name] = s
			}
		case <-t.C:
		}
		targets, next := r.dueStrangers(pending, time.Now())
		for len(targets) > 0 {
			n := min(len(targets), rejoinFanout)
			r.log.Debug("registry: exchanging state with members gossip has not brought news of", "addrs", targets[:n])
			r.rejoin(targets[:n])
			targets = targets[n:]
		}
		if !next.IsZero() {
			t.Reset(time.Until(next))
		}
	}
}

// dueStrangers takes the askers whose wait is over out of pending and returns the
// addresses of those still unknown, and when the next wait ends (zero: none).
func (r *Registry) dueStrangers(pending map[string]stranger, now time.Time) (targets []string, next time.Time) {
	for name, s := range pending {
		if s.due.After(now) {
			if next.IsZero() || s.due.Before(next) {
				next = s.due
			}
			continue
		}
		delete(pending, name)
		if !r.isMember(name) {
			targets = append(targets, s.addr)
		}
	}
	return dedup(targets), next
}

// introduce asks every member that advertises no services for its catalog, right
// after the join: those that do are asked already, as their catalogs are needed,
// and each request tells its receiver that this node joined.
func (r *Registry) introduce() {
	r.mu.Lock()
	var names []string
	for name, ns := range r.nodes {
		if name != r.opts.NodeName && ns.gossip != "" && ns.meta.services == 0 {
			names = append(names, name)
		}
	}
	r.mu.Unlock()
	for _, name := range names {
		r.requestCatalog(name)
	}
}
