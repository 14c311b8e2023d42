package registry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/ringrpc/ringrpc/rpc"
)

// Registry is one node's membership in a ringrpc cluster and its view of every
// service's providers. It is an rpc.Resolver, an rpc.ImmediateResolver and an
// rpc.FailureReporter.
type Registry struct {
	opts *resolved
	log  *slog.Logger
	ml   *memberlist.Memberlist
	self memberlist.Node // this node's name and gossip address
	// selfAt is self's address for memberlist's goroutines, which start before
	// self is set.
	selfAt atomic.Pointer[string]

	mu      sync.Mutex // guards nodes, own, closed, leaving, conflict, known
	nodes   map[string]*nodeState
	own     catalog
	closed  bool
	leaving bool // Shutdown has begun: advertised in the metadata
	// notServing: the server's health status is not SERVING; advertised in the
	// metadata, it takes this provider out of every ring while it stays a member.
	notServing bool
	conflict   nameHolder           // another node under our name, seen while joining
	known      map[string]knownPeer // members seen alive, to rejoin
	lastCat    map[string]*catalog  // catalogs of known members that are gone
	state      stateWriter
	verdicts   chan verdict // dead verdicts to check

	keyMu   sync.Mutex // guards keySeq, keyWait
	keySeq  uint32
	keyWait map[uint32]chan keyAck // key rotations waiting for confirmations
	keyOps  chan keyOp             // key changes other members asked for

	snap     atomic.Pointer[snapshot]
	rebuilt  atomic.Pointer[chan struct{}] // closed and replaced at each new snapshot
	dirty    chan struct{}
	announce chan struct{}
	// digests gossips ring digests, this node's and those it hears of, in the room
	// membership messages leave: they never delay news of joins and leaves.
	digests   *memberlist.TransmitLimitedQueue
	digestSeq uint64     // sequence of this node's last published digest; guarded by mu
	updateMu  sync.Mutex // serialises memberlist's UpdateNode
	// announceDigest asks for the ring digest to be gossiped once the rings settle.
	announceDigest chan struct{}
	fetches        chan string   // nodes whose catalog to request
	strangers      chan stranger // askers for our catalog that gossip has not told of
	replies        chan catalogRequest
	events         chan Event
	watchMu        sync.Mutex
	watchers       map[int]func(Event)
	watchSeq       int

	rebuildMu sync.Mutex   // orders rebuilds: a snapshot never replaces a newer one
	waiting   atomic.Int32 // calls waiting for a provider

	ringRebuilds atomic.Uint64 // Stats.RingRebuilds

	isolated sync.Map // RPC address -> unix nanoseconds until which it is tried last
	nIsol    atomic.Int32
	rr       atomic.Uint64

	stop     chan struct{}
	stopped  chan struct{} // closed once every routine has ended
	routines sync.WaitGroup
	shutOnce sync.Once
	// left is closed once memberlist's Leave has marked this node left: the leave is
	// under way, and memberlist may be shut down.
	left     chan struct{}
	leftOnce sync.Once
}

// nodeState is what this node knows of another (or of itself).
type nodeState struct {
	name   string
	gossip string
	ip     []byte // gossip address, copied: memberlist's Node is not ours to read later
	port   uint16
	meta   nodeMeta
	cat    *catalog   // nil until fetched
	digest ringDigest // the last ring digest it published; seq 0: none heard of
	gen    uint64     // counts alive notices: a check of an older verdict is void
	doubt  bool       // declared dead, being checked
}

// Member describes a cluster member, for tooling.
type Member struct {
	Name       string
	GossipAddr string
	RPCAddr    string
	State      MemberState
	Services   []string
	// RingDigest is the checksum over all of the member's rings that it last
	// gossiped (Snapshot.Digest on that node); 0 when not known yet.
	RingDigest uint64
	// Leaving is set once the member announced a graceful leave.
	Leaving bool
}

func (ns *nodeState) member() Member {
	m := Member{Name: ns.name, GossipAddr: ns.gossip, RPCAddr: ns.meta.rpcAddr, State: StateAlive,
		RingDigest: ns.meta.digest, Leaving: ns.meta.flags&metaLeaving != 0}
	if ns.digest.seq != 0 {
		m.RingDigest = ns.digest.digest
	}
	if ns.cat != nil {
		m.Services = slices.Clone(ns.cat.services)
	}
	switch {
	case ns.doubt:
		m.State = StateDoubted
	case catalogPending(ns):
		m.State = StateSyncing
	}
	return m
}

// Join starts this node's gossip member and joins the cluster through opts.Seeds.
// With opts.Server it advertises the server's services at opts.RPCAddr, including
// services registered later.
//
// Join returns once it has the catalogs (the services) of the members it reached,
// so that a call made right after it routes by them. ctx bounds the whole: if it
// ends before a seed answers, Join fails, and so it does when no seed answered
// three tries, 500 ms apart; if it ends while catalogs are still on
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

		announceDigest: make(chan struct{}, 1),
		fetches:        make(chan string, 1024),
		strangers:      make(chan stranger, 256),
		replies:        make(chan catalogRequest, 256),
		events:         make(chan Event, 1024),
		watchers:       map[int]func(Event){},
		stop:           make(chan struct{}),
		stopped:        make(chan struct{}),
		left:           make(chan struct{}),
		known:          map[string]knownPeer{},
		lastCat:        map[string]*catalog{},
		verdicts:       make(chan verdict, 1024),
		keyWait:        map[uint32]chan keyAck{},
		keyOps:         make(chan keyOp, 16),
		state:          stateWriter{path: o.StateFile},
		own:            catalog{node: o.NodeName, rpcAddr: o.RPCAddr, version: uint64(time.Now().UnixNano())},
		// Above what this node's previous run published, which others may
		// still hold: a digest counts only when its sequence is higher.
		digestSeq: uint64(time.Now().UnixNano()),
	}
	r.snap.Store(&snapshot{services: map[string]*serviceRing{}})
	r.digests = &memberlist.TransmitLimitedQueue{
		NumNodes:       func() int { return len(r.snap.Load().members) },
		RetransmitMult: o.ml.RetransmitMult,
	}
	first := make(chan struct{})
	r.rebuilt.Store(&first)
	if o.Server != nil {
		if opts.Logger != nil {
			o.Server.SetFallbackLogger(opts.Logger)
		}
		r.own.services = serviceNames(o.Server.Services())
		r.own.notServing = initialNotServing(o.Server, r.own.services)
		// In the metadata the join sends: a status set before Join holds from the start.
		st, _ := o.Server.ServingStatus("")
		r.notServing = st != rpc.StatusServing
	}
	sus := newSuspicions(o.Logger, o.ml)
	o.ml.Delegate = memberlistDelegate{r}
	o.ml.Events = memberlistEvents{r, sus}
	o.ml.Conflict = conflictWatch{r}
	o.ml.Merge = conflictWatch{r}
	o.ml.Ping, o.ml.LogOutput = sus, slogWriter{o.Logger, sus}
	for _, p := range o.kept.Members {
		r.known[p.Name] = p
	}
	bindPort := o.ml.BindPort
	gn, err := newGossipNet(o.ml)
	if err == nil {
		o.ml.Transport = gn
		// The delegates only queue work until the loops start, once r.ml is set.
		if r.ml, err = memberlist.Create(o.ml); err != nil {
			gn.Shutdown()
		}
	}
	if err != nil {
		return nil, fmt.Errorf("registry: starting gossip on %s:%d: %w: give registry.Options.BindAddr and BindPort a free address (BindPort -1: a port the system picks)", o.ml.BindAddr, bindPort, err)
	}
	ml := r.ml
	// A copy: memberlist rewrites its own node on every metadata update.
	local := ml.LocalNode()
	r.self = memberlist.Node{Name: local.Name, Addr: slices.Clone(local.Addr), Port: local.Port}
	at := r.self.Address()
	r.selfAt.Store(&at)
	r.routines.Add(7 + 2*catalogSenders)
	go r.announceLoop()
	go r.rebuildLoop()
	for range catalogSenders {
		go r.fetchLoop()
		go r.replyLoop()
	}
	go r.eventLoop()
	go r.verifyLoop()
	go r.healLoop()
	go r.keyLoop()
	go r.introduceLoop()
	if err := r.join(ctx); err != nil {
		ml.Shutdown()
		r.stopRoutines(context.Background())
		return nil, err
	}
	r.introduce()
	r.syncCatalogs(ctx)
	r.saveState()
	if o.Server != nil {
		o.Server.OnRegister(r.serviceRegistered)
		// The status handed is not used: servingChanged reads it again.
		o.Server.OnServingStatus(func(service string, _ rpc.ServingStatus) { r.servingChanged(service) })
		r.resyncServing() // statuses set while joining
		// Either way: the status Join read before joining may have changed since.
		r.servingChanged("")
	}
	return r, nil
}

// servingChanged follows the server's own health status ("" is the whole server):
// a provider that is not SERVING leaves every ring, without leaving the cluster, and
// takes its keys back when SERVING again. Calls in flight are not touched. It is
// what the server's OnServingStatus callback calls, and reads the status again under
// r.mu rather than take the one the callback is handed (serviceServingChanged). Once the registry
// leaves, a change is no news to the cluster: the server's Shutdown after the leave
// sets it NOT_SERVING, which memberlist would no longer gossip.
func (r *Registry) servingChanged(service string) {
	if service != "" {
		r.serviceServingChanged(service)
		return
	}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	st, _ := r.opts.Server.ServingStatus("")
	changed := r.notServing != (st != rpc.StatusServing)
	r.notServing = st != rpc.StatusServing
	r.mu.Unlock()
	if changed {
		r.log.Info("registry: serving status changed", "node", r.opts.NodeName, "status", st.String())
		r.announceSoon()
	}
}

// join reaches the seeds and the members the state file remembers. When another
// node holds this node's name, Join fails, unless that node does not answer: it
// is then this node's previous run, and Join waits, within ctx, for the cluster
// to find it dead and give the name up. A state exchange that shows the name at
// this node's address, or not at all, ends the wait: the seed took this address.
func (r *Registry) join(ctx context.Context) error {
	targets := r.startTargets()
	if len(targets) == 0 {
		return nil
	}
	for {
		if err := r.joinSeeds(ctx, targets); err != nil {
			return err
		}
		other := r.takeConflict()
		if other.addr == "" {
			return nil
		}
		// Only a holder the cluster has alive is asked: the address of one it holds
		// suspected or dead may well serve something else by now.
		if other.alive && r.answersAt(other.addr) {
			return r.nameConflict(other.addr, "")
		}
		r.log.Info("registry: waiting for the cluster to find this node's previous run dead", "node", r.opts.NodeName, "previous", other.addr)
		select {
		case <-time.After(r.opts.RejoinInterval):
		case <-ctx.Done():
			if !other.alive {
				return fmt.Errorf("registry: the cluster still holds the name %q at %s, suspected or dead, and %v ended the wait for it to give the name up (memberlist's DeadNodeReclaimTime after it is found dead); join again later, or give this node another registry.Options.NodeName", r.opts.NodeName, other.addr, ctx.Err())
			}
			return r.nameConflict(other.addr, fmt.Sprintf(" (it has not answered since Join began, and %v ended the wait for the cluster to find it dead)", ctx.Err()))
		}
	}
}

// joinAttempts is how many times Join tries its seeds before it fails, joinPause
// apart: a seed busy with other joins may not answer a state exchange within
// memberlist's TCP timeout (1 s with Local), and a later try gets through.
const (
	joinAttempts = 3
	joinPause    = 500 * time.Millisecond
)

// joinSeeds runs joinOnce until it reaches a seed, joinAttempts times at most, within
// ctx.
func (r *Registry) joinSeeds(ctx context.Context, targets []string) error {
	var err error
	for i := range joinAttempts {
		if i > 0 {
			select {
			case <-time.After(joinPause):
			case <-ctx.Done():
				return err
			}
		}
		if err = r.joinOnce(ctx, targets); err == nil || ctx.Err() != nil {
			return err
		}
	}
	return fmt.Errorf("%w (tried %d times, %v apart)", err, joinAttempts, joinPause)
}

// joinOnce runs one memberlist join on a goroutine of the registry, so that ctx
// bounds Join; Join's failure path waits for it (at most memberlist's TCP timeout
// per address).
func (r *Registry) joinOnce(ctx context.Context, targets []string) error {
	err := r.untilDone(ctx, nil, func() error {
		n, err := r.ml.Join(targets)
		if n == 0 && len(r.opts.Seeds) > 0 {
			return r.noSeed(targets, err)
		}
		return nil
	})
	if err != nil && errors.Is(err, ctx.Err()) {
		return fmt.Errorf("registry: joining %v: %w", targets, err)
	}
	return err
}

// noSeed is the error of a Join that reached nobody.
func (r *Registry) noSeed(targets []string, err error) error {
	hint := "check the seed addresses and that their gossip ports are reachable"
	if r.opts.Cluster != "" {
		hint += fmt.Sprintf(", and that they belong to cluster %q (registry.Options.Cluster)", r.opts.Cluster)
	} else {
		hint += ", and whether they set registry.Options.Cluster"
	}
	if r.opts.ml.Keyring != nil {
		hint += " and use the same gossip key"
	} else {
		hint += " or a gossip key"
	}
	return fmt.Errorf("registry: no seed answered (%v): %w; %s", targets, oneLine{err}, hint)
}

// oneLine is an error whose text fits one line: memberlist's Join reports its
// failures as a list (go-multierror), one line each with a blank line after, which
// the registry's errors run on from.
type oneLine struct{ err error }

func (e oneLine) Error() string {
	if m, ok := e.err.(interface{ WrappedErrors() []error }); ok {
		var parts []string
		for _, err := range m.WrappedErrors() {
			parts = append(parts, err.Error())
		}
		return strings.Join(parts, "; ")
	}
	return strings.Join(strings.Fields(e.err.Error()), " ")
}

func (e oneLine) Unwrap() error { return e.err }

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
func (r *Registry) GossipAddr() string { return r.self.Address() }

// serviceRegistered announces a service registered on the server after joining.
func (r *Registry) serviceRegistered(d *rpc.ServiceDesc) {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	r.own.services = append(slices.Clone(r.own.services), d.Name)
	slices.Sort(r.own.services)
	r.own.notServing = notServingWith(r.opts.Server, r.own.notServing, d.Name)
	r.own.version++
	r.mu.Unlock()
	r.applyCatalog(r.ownCatalog())
	r.announceSoon()
}

// announceSoon asks the announce loop to gossip this node's metadata.
func (r *Registry) announceSoon() {
	select {
	case r.announce <- struct{}{}:
	default: // an announcement is pending and will carry this change too
	}
}

// announceLoop gossips this node's metadata at once for a new catalog version,
// once per burst of registrations; and its ring digest once the rings have been
// still for digestSettle, so that a burst of joins in a large cluster does not
// fill the gossip with digests that are stale before they arrive.
func (r *Registry) announceLoop() {
	defer r.routines.Done()
	settle := time.NewTimer(time.Hour)
	settle.Stop()
	defer settle.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-r.announceDigest:
			settle.Reset(r.digestSettle())
		case <-settle.C:
			r.publishDigest()
		case <-r.announce:
			// The broadcast goes out whether or not UpdateNode waits for it: a
			// short wait keeps Close from waiting on a broadcast that a shutdown
			// stops.
			if err := r.updateNode(r.opts.ml.GossipInterval); err != nil {
				r.log.Debug("registry: announcing this node's metadata", "err", err)
			}
		}
	}
}

// publishDigest gossips the digest of this node's rings under a new sequence.
// Digests are not metadata: memberlist gossips a metadata change as an alive
// message, which every member passes on ahead of older news, and fifty nodes
// announcing their digests at once held up news of the last joins by seconds.
func (r *Registry) publishDigest() {
	r.mu.Lock()
	if r.leaving || r.closed {
		r.mu.Unlock()
		return // others would take a digest of a node they dropped for news of it
	}
	r.digestSeq++
	d := ringDigest{node: r.opts.NodeName, seq: r.digestSeq, digest: r.snap.Load().digest}
	if ns := r.nodes[d.node]; ns != nil {
		ns.digest = d
	}
	r.mu.Unlock()
	r.digests.QueueBroadcast(digestBroadcast{d.node, encodeDigest(digestMsg{d, r.self.Addr, r.self.Port})})
}

// noteDigest records a member's ring digest if it is newer than the one known,
// and reports whether it was, and whether gossip told this node that the digest's
// node joined. A digest of a node not known (yet) is dropped: the next push/pull
// exchange brings it.
func (r *Registry) noteDigest(d ringDigest) (newer, known bool) {
	if d.node == r.opts.NodeName {
		return false, true
	}
	r.mu.Lock()
	ns := r.nodes[d.node]
	known = ns != nil && ns.gossip != ""
	newer = known && d.digest != 0 && d.seq > ns.digest.seq
	if newer {
		ns.digest = d
	}
	r.mu.Unlock()
	if newer {
		r.markDirty()
	}
	return newer, known
}

// knownDigests returns the ring digests this node knows, its own included.
func (r *Registry) knownDigests() []ringDigest {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]ringDigest, 0, len(r.nodes))
	for _, ns := range r.nodes {
		if ns.digest.seq != 0 {
			out = append(out, ns.digest)
		}
	}
	return out
}

// digestBroadcast is a ring digest in the gossip queue: a newer digest of the same
// node replaces it.
type digestBroadcast struct {
	node string
	msg  []byte
}

var _ memberlist.NamedBroadcast = digestBroadcast{}

func (b digestBroadcast) Name() string { return b.node }

func (b digestBroadcast) Invalidates(o memberlist.Broadcast) bool {
	other, ok := o.(digestBroadcast)
	return ok && other.node == b.node
}

func (b digestBroadcast) Message() []byte { return b.msg }

func (b digestBroadcast) Finished() {}

// digestSettle is how long the rings stay unchanged before their digest is
// gossiped: five gossip intervals (100 ms with Fast, 1 s with LAN).
func (r *Registry) digestSettle() time.Duration { return 5 * r.opts.ml.GossipInterval }

func (r *Registry) ownCatalog() catalog {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.own
	c.services = slices.Clone(c.services)
	c.notServing = slices.Clone(c.notServing)
	return c
}

func (r *Registry) localMeta() []byte {
	r.mu.Lock()
	m := nodeMeta{rpcAddr: r.own.rpcAddr, version: r.own.version, services: len(r.own.services)}
	if r.leaving {
		m.flags |= metaLeaving
	}
	if r.notServing {
		m.flags |= metaNotServing
	}
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
		// A member back after a false verdict or a partition keeps its catalog.
		ns = &nodeState{name: n.Name, cat: r.lastCat[n.Name]}
		r.nodes[n.Name] = ns
	}
	ns.gossip, ns.ip, ns.port, ns.meta = n.Address(), slices.Clone(n.Addr), n.Port, meta
	ns.gen++
	ns.doubt = false
	if n.Name == r.opts.NodeName {
		own := r.own
		ns.cat = &own
	}
	stale := meta.services > 0 && (ns.cat == nil || ns.cat.version < meta.version)
	m := ns.member()
	r.mu.Unlock()
	if kind == EventJoin && n.Name != r.opts.NodeName {
		r.log.Info("registry: member joined", "node", n.Name, "gossip", n.Address(), "rpc", meta.rpcAddr, "services", meta.services)
	}
	if kind == EventJoin && meta.rpcAddr != "" {
		// A (re)join is news that the provider is back: end its isolation.
		if _, ok := r.isolated.LoadAndDelete(meta.rpcAddr); ok {
			r.nIsol.Add(-1)
		}
	}
	if stale {
		r.requestCatalog(n.Name)
	}
	if meta.flags&metaLeaving == 0 {
		r.rememberPeer(n.Name, n.Address())
	}
	r.markDirty()
	r.emit(Event{Type: kind, Member: m})
}

// nodeGone handles a member that left or was declared dead. A leave announced
// through the metadata takes effect at once; a dead verdict is checked first.
func (r *Registry) nodeGone(n *memberlist.Node) {
	if n.Name == r.opts.NodeName {
		// Only memberlist's Leave declares this node gone (it refutes every other
		// verdict on it), once it has queued the leave's broadcast.
		r.leftOnce.Do(func() { close(r.left) })
		return
	}
	r.mu.Lock()
	ns := r.nodes[n.Name]
	if ns == nil {
		r.mu.Unlock()
		return
	}
	gen, left := ns.gen, ns.meta.flags&metaLeaving != 0
	r.mu.Unlock()
	if left {
		r.log.Info("registry: member left", "node", n.Name, "gossip", n.Address())
		r.forgetPeer(n.Name)
	} else if r.doubt(n, gen) {
		r.log.Info("registry: member reported dead; checking it directly before taking it out", "node", n.Name, "gossip", n.Address())
		return
	} else {
		r.log.Info("registry: member failed", "node", n.Name, "gossip", n.Address())
	}
	r.remove(n.Name, gen)
}

// remove takes a member out of the rings, unless it came back since the verdict
// of generation gen.
func (r *Registry) remove(name string, gen uint64) {
	r.mu.Lock()
	ns := r.nodes[name]
	if ns == nil || ns.gen != gen {
		r.mu.Unlock()
		return
	}
	delete(r.nodes, name)
	if _, ok := r.known[name]; ok && ns.cat != nil {
		r.lastCat[name] = ns.cat
	}
	m := ns.member()
	r.mu.Unlock()
	r.markDirty()
	m.State = StateLeft
	r.emit(Event{Type: EventLeave, Member: m})
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
		r.noteStranger(q.node, q.ip, q.port)
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
	case msgDigest:
		d, err := decodeDigest(msg)
		if err != nil {
			r.log.Warn("registry: bad ring digest", "err", err)
			return
		}
		switch newer, known := r.noteDigest(d.ringDigest); {
		case newer:
			// News to this node: pass it on, as memberlist does its own.
			r.digests.QueueBroadcast(digestBroadcast{d.node, msg})
		case !known:
			r.queueStranger(d.node, d.ip, d.port)
		}
	case msgKeyOp:
		q, err := decodeKeyOp(msg)
		if err != nil {
			r.log.Warn("registry: bad key operation", "err", err)
			return
		}
		select {
		case r.keyOps <- q:
		default:
			r.log.Warn("registry: key operation dropped: too many at once", "from", q.from.node)
		}
	case msgKeyAck:
		a, err := decodeKeyAck(msg)
		if err != nil {
			r.log.Warn("registry: bad key confirmation", "err", err)
			return
		}
		r.deliverAck(a)
	}
}

// markDirty asks the rebuild loop for a new snapshot.
func (r *Registry) markDirty() {
	select {
	case r.dirty <- struct{}{}:
	default:
	}
}

// rebuildLoop debounces changes into snapshot rebuilds and, every refetchInterval,
// asks again for catalogs that are missing or stale.
func (r *Registry) rebuildLoop() {
	defer r.routines.Done()
	check := time.NewTicker(refetchInterval(r.opts.ml.ProbeInterval))
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
	snap, errs := buildSnapshot(nodes, r.snap.Load(), r.opts.Ring, r.opts.Failover)
	for _, err := range errs {
		r.log.Error("registry: a service has no ring", "err", err)
	}
	for i := range snap.members {
		if snap.members[i].Name == r.opts.NodeName {
			snap.members[i].RingDigest = snap.digest
		}
	}
	old := r.snap.Swap(snap)
	if old != nil {
		r.ringRebuilds.Add(uint64(logRings(r.log, old, snap)))
	}
	next := make(chan struct{})
	close(*r.rebuilt.Swap(&next))
	if old.digest != snap.digest {
		select { // others compare their rings with ours
		case r.announceDigest <- struct{}{}:
		default:
		}
	}
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

// refetchInterval is how often a node asks again for the catalogs it misses: five
// probe intervals, from 500 ms to 2 s. A catalog request or its answer lost on a
// loaded network is asked again well within what a preset promises for a change of
// serving status to reach the rings (2 s with Fast).
func refetchInterval(probe time.Duration) time.Duration {
	return min(max(5*probe, 500*time.Millisecond), 2*time.Second)
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

// catalogSenders is how many catalog requests, and how many catalog replies, a node
// sends at once. Each is a TCP exchange bounded by memberlist's TCPTimeout (10 s with
// LAN): one at a time, a node that joins a large cluster asks for its catalogs, and
// the others ask for its own, in turn, and one peer that does not answer holds up
// all the others.
const catalogSenders = 8

func (r *Registry) fetchLoop() {
	defer r.routines.Done()
	for {
		select {
		case <-r.stop:
			return
		case name := <-r.fetches:
			if n := r.member(name); n != nil && name != r.opts.NodeName {
				self := r.self
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
	if out, ok := r.resolveNow(ctx, call, dst, s); ok {
		return out, nil
	}
	sr, err := r.waitProvider(ctx, call.Service())
	if err != nil {
		return dst, err
	}
	return r.pick(ctx, call, dst, s, sr), nil
}

// ResolveNow is Resolve without waiting: false when no provider of the call's service
// is on the rings now (rpc.ImmediateResolver).
func (r *Registry) ResolveNow(ctx context.Context, call *rpc.Call, dst []string) ([]string, bool) {
	return r.resolveNow(ctx, call, dst, r.opts.Strategy)
}

func (r *Registry) resolveNow(ctx context.Context, call *rpc.Call, dst []string, s Strategy) ([]string, bool) {
	sr := r.snap.Load().services[call.Service()]
	if sr == nil {
		return dst, false
	}
	return r.pick(ctx, call, dst, s, sr), true
}

// pick appends the providers of sr to try for call, best first, by strategy s.
func (r *Registry) pick(ctx context.Context, call *rpc.Call, dst []string, s Strategy, sr *serviceRing) []string {
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
	return r.healthyFirst(dst, sr, idx)
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

// ResolveNow is Resolve without waiting (rpc.ImmediateResolver).
func (v strategyView) ResolveNow(ctx context.Context, call *rpc.Call, dst []string) ([]string, bool) {
	return v.r.resolveNow(ctx, call, dst, v.s)
}

func (v strategyView) Resolve(ctx context.Context, call *rpc.Call, dst []string) ([]string, error) {
	return v.r.resolve(ctx, call, dst, v.s)
}

func (v strategyView) ReportFailure(addr string, err error) { v.r.ReportFailure(addr, err) }

func (v strategyView) OnProviderFailed(fn func(addr string)) (stop func()) {
	return v.r.OnProviderFailed(fn)
}

// Shutdown leaves gracefully and shuts Options.Server down: it announces the leave,
// waits Options.LeavePropagation for consumers to drop this node from their rings,
// shuts the server down (new calls are turned away unprocessed, calls in flight
// finish), then stops gossip. A node without Options.Server is in no ring: it does
// not wait for the leave to propagate. To keep the server, use Leave.
//
// ctx caps the whole: Shutdown returns by the time ctx ends, even when it has ended
// already. The steps left then wait for nothing: the server is shut down with the
// ended ctx, which cuts its calls in flight short (rpc.Server.Shutdown), and gossip
// stops. If the leave had not been gossiped yet while other members stay, the error
// says so and matches ctx's error with errors.Is: they find this node gone by probing
// it, as after a crash. What memberlist cannot stop (its wait for the leave's
// broadcast, a probe or a TCP exchange in progress) ends within memberlist's own
// timeouts on the registry's goroutines; Close waits for them.
func (r *Registry) Shutdown(ctx context.Context) error {
	return r.leave(ctx, r.opts.Server)
}

// Leave is Shutdown without the server's shutdown: it announces the leave, waits
// Options.LeavePropagation when this node provides services, and stops gossip, all
// within ctx as Shutdown does. The server given as Options.Server keeps serving;
// shut it down after Leave.
func (r *Registry) Leave(ctx context.Context) error {
	return r.leave(ctx, nil)
}

func (r *Registry) leave(ctx context.Context, server *rpc.Server) error {
	var errs []error
	r.shutOnce.Do(func() {
		r.markClosed()
		timeout := 5 * time.Second
		if dl, ok := ctx.Deadline(); ok {
			timeout = time.Until(dl) / 2
		}
		r.announceLeave(ctx, timeout/2)
		if err := r.leaveGossip(ctx, timeout); err != nil {
			errs = append(errs, err)
		}
		if r.opts.Server != nil {
			r.awaitPropagation(ctx)
		}
		if server != nil {
			if err := server.Shutdown(ctx); err != nil {
				errs = append(errs, err)
			}
		}
		errs = append(errs, r.ml.Shutdown())
		r.stopRoutines(ctx)
	})
	return errors.Join(errs...)
}

// leaveGossip gossips memberlist's leave and waits until it was gossiped, at most
// timeout, or until ctx ends. It returns an error only when ctx cut the leave short
// while other members stay.
func (r *Registry) leaveGossip(ctx context.Context, timeout time.Duration) error {
	// memberlist waits until its leave was gossiped enough times, which takes a few
	// gossip rounds, or for ever when the others leave too (a whole cluster stopped
	// at once): it gossips to none that left. Ten rounds reach a cluster of
	// thousands; two are enough when every other member said it leaves.
	spread := max(10*r.opts.ml.GossipInterval, 200*time.Millisecond)
	wait := min(timeout, spread)
	if r.othersStaying() == 0 {
		wait = min(wait, 2*r.opts.ml.GossipInterval)
	}
	// The leave must be under way before memberlist's Shutdown, after which its
	// Leave panics: r.left closes as it marks this node left, before it waits.
	err := r.untilDone(ctx, r.left, func() error { return r.ml.Leave(mlTimeout(ctx, wait)) })
	switch {
	case err == nil:
		return nil
	case r.othersStaying() == 0:
		r.log.Debug("registry: the leave was not gossiped: every other member leaves too", "err", err)
		return nil
	case ctx.Err() != nil:
		need := fmt.Sprintf("the announcement and the leave take a few gossip rounds (%v each)", r.opts.ml.GossipInterval)
		if r.opts.Server != nil {
			need += fmt.Sprintf(", and registry.Options.LeavePropagation (%v) follows", r.opts.LeavePropagation)
		}
		return fmt.Errorf("registry: the leave was cut short (%w) before it had spread: gossip has stopped, and the members it did not reach find this node gone by probing it, as after a crash, their calls to it failing over meanwhile; to leave gracefully, give the context longer: %s", ctx.Err(), need)
	default:
		// Too slow to tell them: they will find out by probing. The shutdown goes on.
		r.log.Warn("registry: the leave was not announced", "err", err)
		return nil
	}
}

// mlTimeout is how long a memberlist call may wait for its broadcast: d, or no time
// once ctx has ended. memberlist waits for ever on a timeout of zero or less: no time
// is a nanosecond, in which the call queues its broadcast and returns.
func mlTimeout(ctx context.Context, d time.Duration) time.Duration {
	if ctx.Err() != nil {
		return time.Nanosecond
	}
	return max(d, time.Nanosecond)
}

// untilDone runs call, a memberlist call that waits at most its own timeout and
// watches no context, on a goroutine of the registry, and returns its error, or ctx's
// as soon as ctx ends first. The call then ends by itself within its timeout;
// stopRoutines waits for it until its own ctx ends, and Close waits for it. begun,
// when not nil, is closed once call has done what must precede the caller's next
// step: untilDone waits for it, or for the call's end, whatever ctx does.
func (r *Registry) untilDone(ctx context.Context, begun <-chan struct{}, call func() error) error {
	done := make(chan error, 1)
	r.routines.Add(1)
	go func() {
		defer r.routines.Done()
		done <- call()
	}()
	if begun != nil {
		select {
		case <-begun:
		case err := <-done:
			return err
		}
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		select {
		case err := <-done: // both: the call's own result counts
			return err
		default:
			return ctx.Err()
		}
	}
}

// Close stops gossip at once, without announcing a leave: other nodes find out when
// this one stops answering probes. It returns once the registry's goroutines have
// ended, those that a Shutdown or Leave cut short by its ctx left running included.
func (r *Registry) Close() error {
	var err error
	r.shutOnce.Do(func() {
		r.markClosed()
		err = r.ml.Shutdown()
		r.stopRoutines(context.Background())
	})
	<-r.stopped
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

// updateNode gossips this node's metadata. memberlist's UpdateNode must not run in
// two goroutines at once (it reads and writes its own node's state unguarded), and the
// announce loop and a leave both call it.
func (r *Registry) updateNode(timeout time.Duration) error {
	r.updateMu.Lock()
	defer r.updateMu.Unlock()
	return r.ml.UpdateNode(timeout)
}

// announceLeave gossips the leaving flag before the leave itself, so that other
// nodes take this one out of their rings at once, and do not read the leave as a
// dead verdict to check. It waits at most timeout, or until ctx ends: the leave that
// follows then ends memberlist's wait, as news of this node that is newer.
func (r *Registry) announceLeave(ctx context.Context, timeout time.Duration) {
	r.mu.Lock()
	r.leaving = true
	r.mu.Unlock()
	if ctx.Err() != nil {
		return // no time to gossip it
	}
	err := r.untilDone(ctx, nil, func() error { return r.updateNode(mlTimeout(ctx, timeout)) })
	if err != nil {
		r.log.Debug("registry: announcing the leave in the metadata", "err", err)
	}
}

func (r *Registry) isClosed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.closed
}

// othersStaying counts the other members alive that have not announced a leave.
func (r *Registry) othersStaying() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for name, ns := range r.nodes {
		if name != r.opts.NodeName && ns.gossip != "" && ns.meta.flags&metaLeaving == 0 {
			n++
		}
	}
	return n
}

func (r *Registry) markClosed() {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
}

// stopRoutines stops the registry's goroutines and waits for them until ctx ends. One
// inside a memberlist call (a leave, a join, a probe, a TCP exchange) ends with the
// call, within its timeout; Close waits for them all.
func (r *Registry) stopRoutines(ctx context.Context) {
	close(r.stop)
	go func() {
		r.routines.Wait()
		close(r.stopped)
	}()
	select {
	case <-r.stopped:
	case <-ctx.Done():
	}
}
