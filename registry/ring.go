package registry

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/buraksezer/consistent"
	"github.com/cespare/xxhash/v2"
)

// provider is one node serving a service.
type provider struct {
	node string
	addr string
}

// serviceRing is the immutable routing table of one service.
type serviceRing struct {
	providers []provider // sorted by node name
	partCount uint64
	parts     [][]uint16 // partition -> provider indexes, owner first, then failover order
	owned     []int      // partitions owned per provider
	sum       uint64     // checksum of the ring: its providers and options
	key       string     // ringKey of the providers: a rebuild reuses the ring while it holds
}

// snapshot is the whole immutable routing state, swapped atomically.
type snapshot struct {
	services map[string]*serviceRing
	members  []Member
	digest   uint64 // over every service's ring checksum
}

type ringMember string

func (m ringMember) String() string { return string(m) }

type xxHasher struct{}

func (xxHasher) Sum64(b []byte) uint64 { return xxhash.Sum64(b) }

// buildRing places a service's providers on a ring and precomputes, per partition, the
// owner and the next distinct owners, so that a pick is a hash and an index.
func buildRing(providers []provider, opts RingOptions, failover int) (sr *serviceRing, err error) {
	sr = &serviceRing{providers: providers, owned: make([]int, len(providers))}
	n := len(providers)
	if n == 1 {
		sr.partCount = 1
		sr.parts = [][]uint16{{0}}
		sr.owned[0] = 1
		return sr, nil
	}
	index := make(map[string]uint16, n)
	members := make([]consistent.Member, n)
	for i, p := range providers {
		index[p.node] = uint16(i)
		members[i] = ringMember(p.node)
	}
	// More providers than partitions would leave some without any: give each one.
	parts := max(opts.PartitionCount, n)
	defer func() {
		// validateRing rules out the library's panics; this is the last line of defence.
		if r := recover(); r != nil {
			sr, err = nil, fmt.Errorf("registry: building the ring of %d providers: %v", n, r)
		}
	}()
	c := consistent.New(members, consistent.Config{
		PartitionCount:    parts,
		ReplicationFactor: opts.ReplicationFactor,
		Load:              opts.Load,
		Hasher:            xxHasher{},
	})
	sr.partCount = uint64(parts)
	sr.parts = make([][]uint16, parts)
	circle := newCircle(providers, opts.ReplicationFactor)
	k := min(failover, n)
	for p := range parts {
		own := index[c.GetPartitionOwner(p).String()]
		sr.parts[p] = circle.order(p, own, k)
		sr.owned[own]++
	}
	return sr, nil
}

// circle is the ring library's circle of virtual nodes, rebuilt here to walk: each
// provider at the hashes of its name and 0 to ReplicationFactor-1, as the library
// places them.
type circle struct {
	hashes []uint64
	owners []uint16 // by position, the provider of hashes[i]
}

func newCircle(providers []provider, replicas int) circle {
	type vnode struct {
		h uint64
		p uint16
	}
	vs := make([]vnode, 0, len(providers)*replicas)
	for i, p := range providers {
		for r := range replicas {
			vs = append(vs, vnode{xxhash.Sum64String(p.node + strconv.Itoa(r)), uint16(i)})
		}
	}
	slices.SortFunc(vs, func(a, b vnode) int { return cmp.Compare(a.h, b.h) })
	c := circle{hashes: make([]uint64, len(vs)), owners: make([]uint16, len(vs))}
	for i, v := range vs {
		c.hashes[i], c.owners[i] = v.h, v.p
	}
	return c
}

// order returns partition p's owner, then the next k-1 distinct providers clockwise
// from where the library places p: the first of them is where p goes when its owner
// leaves, unless the bounded load sends it further on, so a dead owner's partitions
// fail over to many providers, each mostly to the one that takes it for good.
func (c circle) order(p int, own uint16, k int) []uint16 {
	order := make([]uint16, 1, k)
	order[0] = own
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(p))
	h := xxhash.Sum64(b[:])
	start, _ := slices.BinarySearch(c.hashes, h)
	for i := 0; len(order) < k && i < len(c.hashes); i++ {
		if o := c.owners[(start+i)%len(c.hashes)]; !slices.Contains(order, o) {
			order = append(order, o)
		}
	}
	return order
}

// partition maps a route key to its partition, as the ring library does.
func (sr *serviceRing) partition(key string) uint64 {
	return xxhash.Sum64String(key) % sr.partCount
}

// ringKey identifies a set of providers, so that services served by the same nodes
// share one ring.
func ringKey(ps []provider) string {
	var b strings.Builder
	for _, p := range ps {
		b.WriteString(p.node)
		b.WriteByte(0)
		b.WriteString(p.addr)
		b.WriteByte(0)
	}
	return b.String()
}

// buildSnapshot turns the known nodes into rings, one per service. A ring of prev
// (nil for none) whose providers are unchanged is reused: building one takes
// milliseconds with dozens of providers, and most rebuilds are for news that leaves
// the providers as they were (ring digests, members without services).
func buildSnapshot(nodes map[string]*nodeState, prev *snapshot, opts RingOptions, failover int) (*snapshot, []error) {
	byService := map[string][]provider{}
	snap := &snapshot{services: map[string]*serviceRing{}}
	for _, ns := range nodes {
		snap.members = append(snap.members, ns.member())
		if ns.cat == nil || ns.meta.rpcAddr == "" || ns.meta.flags&metaNotServing != 0 {
			continue
		}
		for _, s := range ns.cat.services {
			if !slices.Contains(ns.cat.notServing, s) {
				byService[s] = append(byService[s], provider{node: ns.name, addr: ns.meta.rpcAddr})
			}
		}
	}
	slices.SortFunc(snap.members, func(a, b Member) int { return strings.Compare(a.Name, b.Name) })
	shared := map[string]*serviceRing{}
	if prev != nil {
		for _, sr := range prev.services {
			shared[sr.key] = sr
		}
	}
	var errs []error
	for svc, ps := range byService {
		slices.SortFunc(ps, func(a, b provider) int { return strings.Compare(a.node, b.node) })
		key := ringKey(ps)
		sr, ok := shared[key]
		if !ok {
			var err error
			if sr, err = buildRing(ps, opts, failover); err != nil {
				errs = append(errs, err)
				continue
			}
			sr.sum, sr.key = ringSum(key, opts, failover), key
			shared[key] = sr
		}
		snap.services[svc] = sr
	}
	snap.digest = digest(snap.services)
	return snap, errs
}

// ringSum is a ring's checksum: two nodes with the same checksum route every key
// of the service to the same providers in the same order.
func ringSum(key string, opts RingOptions, failover int) uint64 {
	d := xxhash.New()
	d.WriteString(key)
	fmt.Fprintf(d, "%d/%d/%g/%d", opts.PartitionCount, opts.ReplicationFactor, opts.Load, failover)
	return d.Sum64()
}

// digest sums the ring checksums of all services, for nodes to compare in one
// number; a node that knows no service has a digest too.
func digest(rings map[string]*serviceRing) uint64 {
	d := xxhash.New()
	var b [8]byte
	for _, svc := range slices.Sorted(maps.Keys(rings)) {
		d.WriteString(svc)
		binary.BigEndian.PutUint64(b[:], rings[svc].sum)
		d.Write(b[:])
	}
	return d.Sum64() | 1 // never 0, which means unknown
}
