package registry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/ringrpc/ringrpc/rpc"
)

// Registry is one node's membership in a ringrpc cluster and its view of every
// service's providers. It is an rpc.Resolver and an rpc.FailureReporter.
type Registry struct {
	opts *resolved
	log  *slog.Logger
	ml   *memberlist.Memberlist

	mu     sync.Mutex // guards nodes, own, closed
	nodes  map[string]*nodeState
	own    catalog
	closed bool

	snap     atomic.Pointer[snapshot]
	rebuilt  atomic.Pointer[chan struct{}] // closed and replaced at each new snapshot
	dirty    chan struct{}
	announce chan struct{}
	fetches  chan string // nodes whose catalog to request
	replies  chan catalogRequest
	events   chan Event
	watchMu  sync.Mutex
	watchers map[int]func(Event)
	watchSeq int

	rebuildMu sync.Mutex   // orders rebuilds: a snapshot never replaces a newer one
	waiting   atomic.Int32 // calls waiting for a provider

	isolated sync.Map // RPC address -> unix nanoseconds until which it is tried last
	nIsol    atomic.Int32
	rr       atomic.Uint64

	stop     chan struct{}
	routines sync.WaitGroup
	shutOnce sync.Once
}

// nodeState is what this node knows of another (or of itself).
type nodeState struct {
	name   string
	gossip string
	ip     []byte // gossip address, copied: memberlist's Node is not ours to read later
	port   uint16
	meta   nodeMeta
	cat    *catalog // nil until fetched
}

// Member describes a cluster member, for tooling.
type Member struct {
	Name       string
	GossipAddr string
	RPCAddr    string
	// State is "alive", or "syncing" while its catalog is being fetched.
	State    string
	Services []string
}

func (ns *nodeState) member() Member {
	m := Member{Name: ns.name, GossipAddr: ns.gossip, RPCAddr: ns.meta.rpcAddr, State: "alive"}
	if ns.cat != nil {
		m.Services = slices.Clone(ns.cat.services)
	}
	if ns.meta.services > 0 && (ns.cat == nil || ns.cat.version < ns.meta.version) {
		m.State = "syncing"
	}
	return m
}

// Join starts this node's gossip member and joins the cluster through opts.Seeds.
// With opts.Server it advertises the server's services at opts.RPCAddr, including
// services registered later.
//
// Join returns once it has the catalogs (the services) of the members it reached,
// so that a call made right after it routes by them. ctx bounds the whole: if it
// ends before a seed answers, Join fails; if it ends while catalogs are still on
// their way (or after 5 s in any case), Join returns the registry, which keeps
// fetching them, and calls wait for their providers (Options.ReadyWait).
func Join(ctx context.Context, opts Options) (*Registry, error) {
	o, err := opts.resolve()
	if err != nil {
		return nil, err
	}
	r := &Registry{
		opts:     o,
		log:      o.Logger,
		nodes:    map[string]*nodeState{},
		dirty:    make(chan struct{}, 1),
		announce: make(chan struct{}, 1),
		fetches:  make(chan string, 1024),
		replies:  make(chan catalogRequest, 256),
		events:   make(chan Event, 1024),
		watchers: map[int]func(Event){},
		stop:     make(chan struct{}),
		own:      catalog{node: o.NodeName, rpcAddr: o.RPCAddr, version: uint64(time.Now().UnixNano())},
	}
	r.snap.Store(&snapshot{services: map[string]*serviceRing{}})
	first := make(chan struct{})
	r.rebuilt.Store(&first)
	if o.Server != nil {
		r.own.services = serviceNames(o.Server.Services())
	}
	o.ml.Delegate = memberlistDelegate{r}
	o.ml.Events = memberlistEvents{r}
	// The delegates only queue work until the loops start, once r.ml is set.
	ml, err := memberlist.Create(o.ml)
	if err != nil {
		return nil, fmt.Errorf("registry: starting gossip on %s:%d: %w", o.ml.BindAddr, o.ml.BindPort, err)
	}
	r.ml = ml
	r.routines.Add(5)
	go r.announceLoop()
	go r.rebuildLoop()
	go r.fetchLoop()
	go r.replyLoop()
	go r.eventLoop()
	if err := r.join(ctx); err != nil {
		ml.Shutdown()
		r.stopRoutines()
		return nil, err
	}
	r.syncCatalogs(ctx)
	if o.Server != nil {
		o.Server.OnRegister(r.serviceRegistered)
	}
	return r, nil
}

func (r *Registry) join(ctx context.Context) error {
	if len(r.opts.Seeds) == 0 {
		return nil
	}
	done := make(chan error, 1)
	go func() {
		n, err := r.ml.Join(r.opts.Seeds)
		if n == 0 {
			done <- fmt.Errorf("registry: no seed answered (%v): %w; check the seed addresses and that their gossip ports are reachable", r.opts.Seeds, err)
			return
		}
		done <- nil
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("registry: joining %v: %w", r.opts.Seeds, ctx.Err())
	}
}

func serviceNames(descs []*rpc.ServiceDesc) []string {
	names := make([]string, 0, len(descs))
	for _, d := range descs {
		names = append(names, d.Name)
	}
	slices.Sort(names)
	return names
}

// Name returns this node's name.
func (r *Registry) Name() string { return r.opts.NodeName }

// GossipAddr returns the address other nodes reach this node's gossip at: a seed.
func (r *Registry) GossipAddr() string { return r.ml.LocalNode().Address() }

// serviceRegistered announces a service registered on the server after joining.
func (r *Registry) serviceRegistered(d *rpc.ServiceDesc) {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	r.own.services = append(slices.Clone(r.own.services), d.Name)
	slices.Sort(r.own.services)
	r.own.version++
	r.mu.Unlock()
	r.applyCatalog(r.ownCatalog())
	select {
	case r.announce <- struct{}{}:
	default: // an announcement is pending and will carry this service too
	}
}

// announceLoop gossips this node's new catalog version, once per burst of
// registrations.
func (r *Registry) announceLoop() {
	defer r.routines.Done()
	for {
		select {
		case <-r.stop:
			return
		case <-r.announce:
		}
		if err := r.ml.UpdateNode(5 * time.Second); err != nil {
			r.log.Warn("registry: announcing new services", "err", err)
		}
	}
}

func (r *Registry) ownCatalog() catalog {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.own
	c.services = slices.Clone(c.services)
	return c
}

func (r *Registry) localMeta() []byte {
	r.mu.Lock()
	m := nodeMeta{rpcAddr: r.own.rpcAddr, version: r.own.version, services: len(r.own.services)}
	r.mu.Unlock()
	b, err := encodeMeta(m)
	if err != nil {
		r.log.Error("registry: cannot advertise this node", "err", err)
		return nil
	}
	return b
}

// nodeAlive records a joined or updated node and fetches its catalog when it is newer.
func (r *Registry) nodeAlive(n *memberlist.Node, kind EventType) {
	meta, err := decodeMeta(n.Meta)
	if err != nil {
		r.log.Warn("registry: ignoring a node with bad metadata", "node", n.Name, "err", err)
		return
	}
	r.mu.Lock()
	ns := r.nodes[n.Name]
	if ns == nil {
		ns = &nodeState{name: n.Name}
		r.nodes[n.Name] = ns
	}
	ns.gossip, ns.ip, ns.port, ns.meta = n.Address(), slices.Clone(n.Addr), n.Port, meta
	if n.Name == r.opts.NodeName {
		own := r.own
		ns.cat = &own
	}
	stale := meta.services > 0 && (ns.cat == nil || ns.cat.version < meta.version)
	m := ns.member()
	r.mu.Unlock()
	if kind == EventJoin && meta.rpcAddr != "" {
		// A (re)join is news that the provider is back: end its isolation.
		if _, ok := r.isolated.LoadAndDelete(meta.rpcAddr); ok {
			r.nIsol.Add(-1)
		}
	}
	if stale {
		r.requestCatalog(n.Name)
	}
	r.markDirty()
	r.emit(Event{Type: kind, Member: m})
}

func (r *Registry) nodeGone(n *memberlist.Node) {
	r.mu.Lock()
	ns := r.nodes[n.Name]
	delete(r.nodes, n.Name)
	r.mu.Unlock()
	if ns != nil {
		r.markDirty()
		m := ns.member()
		m.State = "left"
		r.emit(Event{Type: EventLeave, Member: m})
	}
}

// applyCatalog stores a node's catalog if it is newer than the one known.
func (r *Registry) applyCatalog(c catalog) {
	r.mu.Lock()
	ns := r.nodes[c.node]
	if ns == nil {
		// Not (yet) a member: keep it for when the join arrives.
		ns = &nodeState{name: c.node, meta: nodeMeta{rpcAddr: c.rpcAddr, version: c.version, services: len(c.services)}}
		r.nodes[c.node] = ns
		ns.cat = &c
		r.mu.Unlock()
		return
	}
	if ns.cat != nil && ns.cat.version >= c.version {
		r.mu.Unlock()
		return
	}
	ns.cat = &c
	m := ns.member()
	r.mu.Unlock()
	r.markDirty()
	r.emit(Event{Type: EventCatalog, Member: m})
}

func (r *Registry) requestCatalog(node string) {
	select {
	case r.fetches <- node:
	default: // the periodic check asks again
	}
}

// handleMsg runs on memberlist's stream goroutine: it only decodes and queues.
func (r *Registry) handleMsg(msg []byte) {
	if len(msg) == 0 {
		return
	}
	switch msg[0] {
	case msgCatalogRequest:
		q, err := decodeCatalogRequest(msg)
		if err != nil {
			r.log.Warn("registry: bad catalog request", "err", err)
			return
		}
		select {
		case r.replies <- q:
		default:
		}
	case msgCatalog:
		c, err := decodeCatalog(msg)
		if err != nil {
			r.log.Warn("registry: bad catalog", "err", err)
			return
		}
		r.applyCatalog(c)
	}
}

// markDirty asks the rebuild loop for a new snapshot.
func (r *Registry) markDirty() {
	select {
	case r.dirty <- struct{}{}:
	default:
	}
}

// rebuildLoop debounces changes into snapshot rebuilds and, every few seconds, asks
// again for catalogs that are missing or stale.
func (r *Registry) rebuildLoop() {
	defer r.routines.Done()
	check := time.NewTicker(2 * time.Second)
	defer check.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-check.C:
			r.refetchStale()
			continue
		case <-r.dirty:
		}
		t := time.NewTimer(r.opts.Debounce)
		select {
		case <-r.stop:
			t.Stop()
			return
		case <-t.C:
		}
		r.rebuild()
	}
}

func (r *Registry) rebuild() {
	r.rebuildMu.Lock()
	defer r.rebuildMu.Unlock()
	r.mu.Lock()
	nodes := make(map[string]*nodeState, len(r.nodes))
	for k, ns := range r.nodes {
		if ns.gossip == "" && k != r.opts.NodeName {
			continue // a catalog that arrived before its node's join
		}
		c := *ns
		nodes[k] = &c
	}
	r.mu.Unlock()
	snap, errs := buildSnapshot(nodes, r.opts.Ring, r.opts.Failover)
	for _, err := range errs {
		r.log.Error("registry: a service has no ring", "err", err)
	}
	r.snap.Store(snap)
	next := make(chan struct{})
	close(*r.rebuilt.Swap(&next))
}

// WaitFor blocks until cond holds for the cluster as this node routes it, or ctx
// ends. cond is checked now and after every rebuild of the rings.
func (r *Registry) WaitFor(ctx context.Context, cond func(Snapshot) bool) error {
	for {
		changed := *r.rebuilt.Load()
		if cond(r.Snapshot()) {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("registry: waiting for the cluster: %w", ctx.Err())
		}
	}
}

func (r *Registry) refetchStale() {
	r.mu.Lock()
	var stale []string
	for name, ns := range r.nodes {
		if ns.gossip != "" && catalogPending(ns) {
			stale = append(stale, name)
		}
	}
	r.mu.Unlock()
	for _, n := range stale {
		r.requestCatalog(n)
	}
}

// member returns a node to send to, built from what NotifyJoin copied: the *Node
// memberlist hands out is updated by its goroutines without a lock we could take.
func (r *Registry) member(name string) *memberlist.Node {
	r.mu.Lock()
	defer r.mu.Unlock()
	ns := r.nodes[name]
	if ns == nil || ns.ip == nil {
		return nil
	}
	return &memberlist.Node{Name: ns.name, Addr: slices.Clone(ns.ip), Port: ns.port}
}

func (r *Registry) fetchLoop() {
	defer r.routines.Done()
	for {
		select {
		case <-r.stop:
			return
		case name := <-r.fetches:
			if n := r.member(name); n != nil && name != r.opts.NodeName {
				self := r.ml.LocalNode()
				q := catalogRequest{node: r.opts.NodeName, ip: slices.Clone(self.Addr), port: self.Port}
				if err := r.ml.SendReliable(n, encodeCatalogRequest(q)); err != nil {
					r.log.Debug("registry: requesting a catalog", "node", name, "err", err)
				}
			}
		}
	}
}

func (r *Registry) replyLoop() {
	defer r.routines.Done()
	for {
		select {
		case <-r.stop:
			return
		case q := <-r.replies:
			to := &memberlist.Node{Name: q.node, Addr: q.ip, Port: q.port}
			if err := r.ml.SendReliable(to, encodeCatalog(r.ownCatalog())); err != nil {
				r.log.Debug("registry: sending our catalog", "node", q.node, "err", err)
			}
		}
	}
}

// Resolve returns the providers to try for call, best first: on the ring, the owner
// of the call's route key and the next distinct owners. Providers that failed within
// Options.Isolation come last. When the service has no provider yet, Resolve waits
// for one until ctx ends, or for Options.ReadyWait when ctx has no deadline; it never
// blocks otherwise.
func (r *Registry) Resolve(ctx context.Context, call *rpc.Call, dst []string) ([]string, error) {
	return r.resolve(ctx, call, dst, r.opts.Strategy)
}

func (r *Registry) resolve(ctx context.Context, call *rpc.Call, dst []string, s Strategy) ([]string, error) {
	sr := r.snap.Load().services[call.Service()]
	if sr == nil {
		var err error
		if sr, err = r.waitProvider(ctx, call.Service()); err != nil {
			return dst, err
		}
	}
	n := len(sr.providers)
	k := min(r.opts.Failover, n)
	var order [16]uint16
	idx := order[:0]
	switch s {
	case Ring:
		idx = append(idx, sr.parts[sr.partition(call.RouteKey(ctx))]...)
	case RoundRobin, Random:
		start := int(r.rr.Add(1) % uint64(n))
		if s == Random {
			start = rand.IntN(n)
		}
		for i := range k {
			idx = append(idx, uint16((start+i)%n))
		}
	}
	return r.healthyFirst(dst, sr, idx), nil
}

// healthyFirst appends the providers of idx, those in isolation last.
func (r *Registry) healthyFirst(dst []string, sr *serviceRing, idx []uint16) []string {
	if r.nIsol.Load() == 0 {
		for _, i := range idx {
			dst = append(dst, sr.providers[i].addr)
		}
		return dst
	}
	now := time.Now().UnixNano()
	var late [16]string
	lateN := late[:0]
	for _, i := range idx {
		addr := sr.providers[i].addr
		if until, ok := r.isolated.Load(addr); ok {
			if until.(int64) > now {
				lateN = append(lateN, addr)
				continue
			}
			if r.isolated.CompareAndDelete(addr, until) {
				r.nIsol.Add(-1)
			}
		}
		dst = append(dst, addr)
	}
	return append(dst, lateN...)
}

// ReportFailure puts addr in isolation for Options.Isolation: it is tried last.
func (r *Registry) ReportFailure(addr string, err error) {
	if r.opts.Isolation < 0 {
		return
	}
	until := time.Now().Add(r.opts.Isolation).UnixNano()
	if _, loaded := r.isolated.Swap(addr, until); !loaded {
		r.nIsol.Add(1)
	}
	r.log.Debug("registry: isolating a provider", "addr", addr, "for", r.opts.Isolation, "err", err)
}

// WithStrategy returns a resolver over the same cluster that picks providers by s:
// each client can use its own.
func (r *Registry) WithStrategy(s Strategy) rpc.Resolver { return strategyView{r, s} }

type strategyView struct {
	r *Registry
	s Strategy
}

func (v strategyView) Resolve(ctx context.Context, call *rpc.Call, dst []string) ([]string, error) {
	return v.r.resolve(ctx, call, dst, v.s)
}

func (v strategyView) ReportFailure(addr string, err error) { v.r.ReportFailure(addr, err) }

// Shutdown leaves gracefully: it announces the leave, waits Options.LeavePropagation
// for consumers to drop this node from their rings, shuts Options.Server down (new
// calls are turned away unprocessed, calls in flight finish), then stops gossip. ctx
// caps the whole. A node without Options.Server is in no ring: it does not wait for
// the leave to propagate.
func (r *Registry) Shutdown(ctx context.Context) error {
	var errs []error
	r.shutOnce.Do(func() {
		r.markClosed()
		timeout := 5 * time.Second
		if dl, ok := ctx.Deadline(); ok {
			timeout = time.Until(dl) / 2
		}
		if err := r.ml.Leave(timeout); err != nil {
			// Nobody left to tell, or too slow to tell them: they will find out
			// by probing. The shutdown goes on.
			r.log.Warn("registry: the leave was not announced", "err", err)
		}
		if r.opts.Server != nil {
			r.awaitPropagation(ctx)
			if err := r.opts.Server.Shutdown(ctx); err != nil {
				errs = append(errs, err)
			}
		}
		errs = append(errs, r.ml.Shutdown())
		r.stopRoutines()
	})
	return errors.Join(errs...)
}

// Close stops gossip at once, without announcing a leave: other nodes find out when
// this one stops answering probes.
func (r *Registry) Close() error {
	var err error
	r.shutOnce.Do(func() {
		r.markClosed()
		err = r.ml.Shutdown()
		r.stopRoutines()
	})
	return err
}

// awaitPropagation gives consumers Options.LeavePropagation to drop this node.
func (r *Registry) awaitPropagation(ctx context.Context) {
	t := time.NewTimer(r.opts.LeavePropagation)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

func (r *Registry) markClosed() {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
}

func (r *Registry) stopRoutines() {
	close(r.stop)
	r.routines.Wait()
}
