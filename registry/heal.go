package registry

import (
	"maps"
	"math/rand/v2"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

// Healing: a node remembers the members it has seen and, while some of them are
// missing (a partition, a restart), tries them and its seeds again, so that the
// two sides of a partition find each other without an operator. A dead verdict
// is checked before it takes a provider out of the rings: a verdict that a cut
// node spread is refuted by a direct probe.

const (
	// forgetAfter is how long a member that stopped answering is still tried.
	forgetAfter = 72 * time.Hour
	// rejoinFanout is how many missing members one round tries at once.
	rejoinFanout = 4
)

// rememberPeer records a member seen alive, to rejoin it after a partition.
func (r *Registry) rememberPeer(name, addr string) {
	if name == r.opts.NodeName || addr == "" {
		return
	}
	r.mu.Lock()
	for other, p := range r.known {
		if p.Addr == addr && other != name {
			delete(r.known, other) // a new node at that address: the old name is gone
			delete(r.lastCat, other)
		}
	}
	r.known[name] = knownPeer{Name: name, Addr: addr, Seen: time.Now().UTC().Truncate(time.Second)}
	r.mu.Unlock()
}

// forgetPeer drops a member that left on purpose: nothing to rejoin.
func (r *Registry) forgetPeer(name string) {
	r.mu.Lock()
	delete(r.known, name)
	delete(r.lastCat, name)
	r.mu.Unlock()
}

// rejoinTargets returns the gossip addresses to try, the most recently seen
// first: the remembered members that are not alive now and, when any is missing or
// no other member is alive, the seeds. It also refreshes the last-seen time of the
// members alive now.
func (r *Registry) rejoinTargets() []string {
	self := r.self.Address()
	now := time.Now().UTC().Truncate(time.Second)
	r.mu.Lock()
	var missing []knownPeer
	others := 0
	for name, ns := range r.nodes {
		if ns.gossip != "" && name != r.opts.NodeName {
			others++
		}
	}
	for name, p := range r.known {
		if ns := r.nodes[name]; ns != nil && ns.gossip != "" {
			p.Seen = now
			r.known[name] = p
			continue
		}
		if now.Sub(p.Seen) > forgetAfter {
			delete(r.known, name)
			delete(r.lastCat, name)
			continue
		}
		missing = append(missing, p)
	}
	r.mu.Unlock()
	slices.SortFunc(missing, func(a, b knownPeer) int { return b.Seen.Compare(a.Seen) })
	var targets []string
	for _, p := range missing {
		targets = append(targets, p.Addr)
	}
	if len(targets) > 0 || others == 0 {
		targets = append(targets, r.opts.Seeds...)
	}
	targets = slices.DeleteFunc(targets, func(a string) bool { return a == self })
	return pick(dedup(targets), rejoinFanout)
}

// dedup drops repeated addresses, keeping the first of each.
func dedup(addrs []string) []string {
	seen := map[string]bool{}
	return slices.DeleteFunc(addrs, func(a string) bool {
		if seen[a] {
			return true
		}
		seen[a] = true
		return false
	})
}

// pick returns n of addrs: the first half of them in order (the freshest), the
// rest at random, so that members gone for good do not crowd out those just cut
// off, and none is starved.
func pick(addrs []string, n int) []string {
	if len(addrs) <= n {
		return addrs
	}
	head := n / 2
	rest := slices.Clone(addrs[head:])
	rand.Shuffle(len(rest), func(i, j int) { rest[i], rest[j] = rest[j], rest[i] })
	return append(slices.Clone(addrs[:head]), rest[:n-head]...)
}

// healLoop retries missing members every Options.RejoinInterval, and keeps the
// state file up to date.
func (r *Registry) healLoop() {
	defer r.routines.Done()
	t := time.NewTicker(max(r.opts.RejoinInterval, time.Millisecond))
	defer t.Stop()
	var diverged map[string]bool
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
		}
		if r.opts.RejoinInterval > 0 {
			r.rejoin(r.rejoinTargets())
			diverged = r.resync(diverged)
		}
		r.saveState()
	}
}

// resync exchanges state with members whose ring digest has differed from ours,
// or not been known, for a whole round: either a digest missed this node (gossip
// reaches almost every member, not always all), or the two views differ, and a
// push/pull exchange settles both. It returns this round's such members.
func (r *Registry) resync(before map[string]bool) map[string]bool {
	now, targets := resyncTargets(r.snap.Load(), r.opts.NodeName, before)
	rand.Shuffle(len(targets), func(i, j int) { targets[i], targets[j] = targets[j], targets[i] })
	r.rejoin(targets)
	return now
}

// resyncTargets returns the members of s, self aside, whose digest differs from
// s's or is not known, and the gossip addresses of those among them that were in
// before too.
func resyncTargets(s *snapshot, self string, before map[string]bool) (now map[string]bool, targets []string) {
	now = map[string]bool{}
	for _, m := range s.members {
		if m.Name == self || m.RingDigest == s.digest {
			continue
		}
		now[m.Name] = true
		if before[m.Name] && m.GossipAddr != "" {
			targets = append(targets, m.GossipAddr)
		}
	}
	return now, targets
}

// rejoin tries up to rejoinFanout targets at once; each try is a push/pull
// exchange, bounded by memberlist's TCP timeout.
func (r *Registry) rejoin(targets []string) {
	if r.isClosed() {
		return // leaving: a member gone meanwhile is not to be joined again
	}
	if len(targets) > rejoinFanout {
		targets = targets[:rejoinFanout]
	}
	var wg sync.WaitGroup
	for _, addr := range targets {
		wg.Go(func() {
			if n, err := r.ml.Join([]string{addr}); n > 0 {
				r.log.Info("registry: rejoined a member", "addr", addr)
			} else {
				r.log.Debug("registry: rejoin attempt", "addr", addr, "err", err)
			}
		})
	}
	wg.Wait()
}

// saveState writes the state file, when there is one.
func (r *Registry) saveState() {
	if r.opts.StateFile == "" {
		return
	}
	r.mu.Lock()
	p := persisted{Name: r.opts.NodeName, Cluster: r.opts.Cluster}
	for _, k := range slices.Sorted(maps.Keys(r.known)) {
		// Seen to the minute in the file: forgetting takes 72 h, and a file that
		// changed every second would be rewritten at every heal round.
		m := r.known[k]
		m.Seen = m.Seen.Truncate(time.Minute)
		p.Members = append(p.Members, m)
	}
	r.mu.Unlock()
	for _, k := range r.Keys() {
		p.Keys = append(p.Keys, k)
	}
	if err := r.state.write(p); err != nil {
		r.log.Warn("registry: keeping state", "err", err)
	}
}

// startTargets are the addresses Join tries: the seeds and the members the state
// file remembers.
func (r *Registry) startTargets() []string {
	targets := slices.Clone(r.opts.Seeds)
	for _, p := range r.opts.kept.Members {
		if time.Since(p.Seen) <= forgetAfter && p.Name != r.opts.NodeName {
			targets = append(targets, p.Addr)
		}
	}
	slices.Sort(targets)
	return slices.Compact(targets)
}

// verdict is a dead verdict about a member, waiting for its check.
type verdict struct {
	name string
	addr *net.UDPAddr
	gen  uint64
}

// maxChecks bounds the dead verdicts checked at once: a partition brings many.
const maxChecks = 32

// doubt queues a dead verdict for a check and marks the member doubted; with the
// queue full, the verdict stands at once.
func (r *Registry) doubt(n *memberlist.Node, gen uint64) bool {
	v := verdict{name: n.Name, addr: &net.UDPAddr{IP: slices.Clone(n.Addr), Port: int(n.Port)}, gen: gen}
	select {
	case r.verdicts <- v:
	default:
		return false
	}
	r.mu.Lock()
	if ns := r.nodes[n.Name]; ns != nil && ns.gen == gen {
		ns.doubt = true
	}
	r.mu.Unlock()
	return true
}

// verifyLoop checks dead verdicts, up to maxChecks at once: a member that answers
// a direct probe stays in the rings, and a push/pull exchange with it makes it
// refute the verdict; one that does not answer leaves them.
func (r *Registry) verifyLoop() {
	defer r.routines.Done()
	var wg sync.WaitGroup
	defer wg.Wait()
	slots := make(chan struct{}, maxChecks)
	for {
		select {
		case <-r.stop:
			return
		case v := <-r.verdicts:
			select {
			case slots <- struct{}{}:
			case <-r.stop:
				return
			}
			wg.Go(func() {
				defer func() { <-slots }()
				r.check(v)
			})
		}
	}
}

// check probes the member of a dead verdict; see verifyLoop.
func (r *Registry) check(v verdict) {
	if r.answers(v) {
		// Alive to us: exchange state so that it learns the verdict and refutes it.
		if n, _ := r.ml.Join([]string{v.addr.String()}); n > 0 && r.awaitRefute(v) {
			r.log.Info("registry: a dead verdict was refuted by a direct probe", "node", v.name)
			return
		}
	}
	r.log.Info("registry: member failed", "node", v.name, "gossip", v.addr.String())
	r.remove(v.name, v.gen)
}

// answers probes the member directly: a UDP ping, then, in case a busy machine
// lost it, a TCP connect to its gossip port within a probe interval. A dead
// process on a live host refuses the connect at once; a cut host lets it time out.
func (r *Registry) answers(v verdict) bool {
	if _, err := r.ml.Ping(v.name, v.addr); err == nil {
		return true
	}
	return r.answersAt(v.addr.String())
}

// awaitRefute waits, for ten probe intervals and at least a second, for gossip
// to count the member alive again.
func (r *Registry) awaitRefute(v verdict) bool {
	t := time.NewTicker(r.opts.ml.GossipInterval)
	defer t.Stop()
	limit := time.NewTimer(max(time.Second, 10*r.opts.ml.ProbeInterval))
	defer limit.Stop()
	for {
		if r.aliveInGossip(v.name) || r.generation(v.name) != v.gen {
			return true
		}
		select {
		case <-t.C:
		case <-limit.C:
			return false
		case <-r.stop:
			return false
		}
	}
}

// generation returns the member's alive-notice count; 0 when it is gone.
func (r *Registry) generation(name string) uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	if ns := r.nodes[name]; ns != nil {
		return ns.gen
	}
	return 0
}

// aliveInGossip reports whether memberlist counts name alive now.
func (r *Registry) aliveInGossip(name string) bool {
	for _, n := range r.ml.Members() {
		if n.Name == name {
			return true
		}
	}
	return false
}
