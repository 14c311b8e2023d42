package registry

import (
	"context"
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/buraksezer/consistent"

	"github.com/ringrpc/ringrpc/rpc"
)

func providers(n int) []provider {
	ps := make([]provider, n)
	for i := range ps {
		ps[i] = provider{node: fmt.Sprintf("node-%02d", i), addr: fmt.Sprintf("10.0.0.%d:7000", i)}
	}
	return ps
}

func owner(sr *serviceRing, key string) string {
	return sr.providers[sr.parts[sr.partition(key)][0]].node
}

var defaultRing = RingOptions{PartitionCount: DefaultPartitionCount, ReplicationFactor: DefaultReplicationFactor, Load: DefaultLoad}

func TestRingIsDeterministic(t *testing.T) {
	a, err := buildRing(providers(7), defaultRing, 3)
	if err != nil {
		t.Fatal(err)
	}
	// Another node builds from the same members discovered in another order.
	shuffled := providers(7)
	slices.Reverse(shuffled)
	nodes := map[string]*nodeState{}
	for _, p := range shuffled {
		nodes[p.node] = &nodeState{name: p.node, gossip: "g", meta: nodeMeta{rpcAddr: p.addr, services: 1}, cat: &catalog{services: []string{"s"}}}
	}
	snap, errs := buildSnapshot(nodes, nil, defaultRing, 3)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	b := snap.services["s"]
	for i := range 2000 {
		k := fmt.Sprintf("key-%d", i)
		if owner(a, k) != owner(b, k) {
			t.Fatalf("key %s: %s on one node, %s on another", k, owner(a, k), owner(b, k))
		}
	}
}

// TestRingMovesAboutOneNth: when one of N providers leaves, about 1/N of the keys move
// (ideally exactly that provider's keys), and no other key.
func TestRingMovesAboutOneNth(t *testing.T) {
	for _, n := range []int{3, 5, 10, 20} {
		before, _ := buildRing(providers(n), defaultRing, 3)
		after, _ := buildRing(providers(n)[1:], defaultRing, 3)
		moved := 0
		const keys = 20000
		for i := range keys {
			k := fmt.Sprintf("key-%d", i)
			if owner(before, k) != owner(after, k) {
				moved++
			}
		}
		share, ideal := float64(moved)/keys, 1/float64(n)
		t.Logf("%d providers, one leaves: %.1f%% of keys moved (ideal %.1f%%)", n, 100*share, 100*ideal)
		if share > 2.2*ideal || share < 0.5*ideal {
			t.Errorf("%d providers: %.3f of keys moved, want near %.3f", n, share, ideal)
		}
	}
}

func TestRingBoundedLoad(t *testing.T) {
	for _, n := range []int{2, 3, 7, 10, 50, 271, 400} {
		for _, load := range []float64{1.01, 1.25, 2} {
			opts := RingOptions{PartitionCount: DefaultPartitionCount, ReplicationFactor: 2, Load: load}
			sr, err := buildRing(providers(n), opts, 3)
			if err != nil {
				t.Fatalf("n=%d load=%v: %v", n, load, err)
			}
			parts := max(opts.PartitionCount, n)
			limit := math.Ceil(float64(parts/n) * load)
			for i, owned := range sr.owned {
				if float64(owned) > limit {
					t.Fatalf("n=%d load=%v: %s owns %d partitions, the bound is %v", n, load, sr.providers[i].node, owned, limit)
				}
			}
		}
	}
}

func TestRingFailoverOrderIsDistinct(t *testing.T) {
	sr, _ := buildRing(providers(5), defaultRing, 3)
	for p, order := range sr.parts {
		if len(order) != 3 || order[0] == order[1] || order[1] == order[2] || order[0] == order[2] {
			t.Fatalf("partition %d: failover order %v", p, order)
		}
	}
	one, _ := buildRing(providers(1), defaultRing, 3)
	if len(one.parts) != 1 || len(one.parts[0]) != 1 {
		t.Fatalf("single provider: %+v", one.parts)
	}
}

func TestIsolationMovesAProviderLast(t *testing.T) {
	r := &Registry{opts: &resolved{Options: Options{Isolation: time.Minute, Failover: 3}}, log: quiet}
	sr, _ := buildRing(providers(3), defaultRing, 3)
	r.snap.Store(&snapshot{services: map[string]*serviceRing{"s": sr}})
	desc := &rpc.ServiceDesc{Name: "s", Methods: []rpc.MethodDesc{{Name: "M"}}}
	c, _ := rpc.NewClient(rpc.ClientOptions{Resolver: rpc.StaticAddress("unused")})
	defer c.Close()
	call := c.NewCall(desc, 0)
	ctx := rpc.WithRouteKey(context.Background(), "k")
	first, _ := r.Resolve(ctx, call, nil)
	r.ReportFailure(first[0], nil)
	again, _ := r.Resolve(ctx, call, nil)
	if again[len(again)-1] != first[0] || len(again) != 3 {
		t.Fatalf("after a failure %v, want %s last", again, first[0])
	}
	r.isolated.Store(first[0], time.Now().Add(-time.Second).UnixNano()) // isolation over
	if back, _ := r.Resolve(ctx, call, nil); back[0] != first[0] {
		t.Fatalf("after isolation %v, want %s first again", back, first[0])
	}
}

// BenchmarkResolve is the per-call cost of picking a provider on a 10-provider ring.
func BenchmarkResolve(b *testing.B) {
	r := &Registry{opts: &resolved{Options: Options{Failover: 3}}, log: quiet}
	sr, _ := buildRing(providers(10), defaultRing, 3)
	r.snap.Store(&snapshot{services: map[string]*serviceRing{"s": sr}})
	desc := &rpc.ServiceDesc{Name: "s", Methods: []rpc.MethodDesc{{Name: "M"}}}
	c, _ := rpc.NewClient(rpc.ClientOptions{Resolver: r})
	defer c.Close()
	call := c.NewCall(desc, 0)
	call.SetRouteKey("user-12345")
	ctx := context.Background()
	dst := make([]string, 0, 8)
	b.ReportAllocs()
	for b.Loop() {
		dst, _ = r.Resolve(ctx, call, dst[:0])
	}
}

func ringNodes(n int) map[string]*nodeState {
	nodes := map[string]*nodeState{}
	for _, p := range providers(n) {
		nodes[p.node] = &nodeState{name: p.node, gossip: "g", meta: nodeMeta{rpcAddr: p.addr, services: 1}, cat: &catalog{services: []string{"s"}}}
	}
	return nodes
}

// TestRebuildKeepsUnchangedRings: a rebuild for news that leaves a service's
// providers as they were (a gossiped ring digest, a member without services) reuses
// the service's ring instead of building it again: in a burst of joins every node
// hears dozens of such updates a second.
func TestRebuildKeepsUnchangedRings(t *testing.T) {
	nodes := ringNodes(50)
	first, _ := buildSnapshot(nodes, nil, defaultRing, 3)
	nodes["node-07"].meta.digest = 42
	nodes["consumer"] = &nodeState{name: "consumer", gossip: "g"}
	same, _ := buildSnapshot(nodes, first, defaultRing, 3)
	if same.services["s"] != first.services["s"] {
		t.Error("the ring was built again although its providers did not change")
	}
	if len(same.members) != 51 {
		t.Errorf("%d members, want 51", len(same.members))
	}
	delete(nodes, "node-07")
	fewer, _ := buildSnapshot(nodes, same, defaultRing, 3)
	if fewer.services["s"] == same.services["s"] || len(fewer.services["s"].providers) != 49 {
		t.Error("the ring was not rebuilt when a provider left")
	}
	fresh, _ := buildSnapshot(nodes, nil, defaultRing, 3)
	if fresh.services["s"].sum != fewer.services["s"].sum || !slices.EqualFunc(fresh.services["s"].parts, fewer.services["s"].parts, slices.Equal) {
		t.Error("a reused ring differs from one built afresh")
	}
}

// The failover order starts with the library's owner and goes on with distinct
// providers, as many as asked and there are.
func TestRingFailoverOrder(t *testing.T) {
	for _, n := range []int{2, 3, 7, 50, 300} {
		for _, k := range []int{1, 3, 5} {
			ps := providers(n)
			sr, err := buildRing(ps, defaultRing, k)
			if err != nil {
				t.Fatal(err)
			}
			members := make([]consistent.Member, n)
			for i, p := range ps {
				members[i] = ringMember(p.node)
			}
			c := consistent.New(members, consistent.Config{PartitionCount: int(sr.partCount), ReplicationFactor: defaultRing.ReplicationFactor, Load: defaultRing.Load, Hasher: xxHasher{}})
			for p := range int(sr.partCount) {
				order := sr.parts[p]
				if ps[order[0]].node != c.GetPartitionOwner(p).String() {
					t.Fatalf("%d providers, partition %d: owner %s, the library says %s", n, p, ps[order[0]].node, c.GetPartitionOwner(p))
				}
				if len(order) != min(k, n) || len(slices.Compact(slices.Sorted(slices.Values(order)))) != len(order) {
					t.Fatalf("%d providers, failover %d, partition %d: order %v", n, k, p, order)
				}
			}
		}
	}
}

// A dead owner's partitions fail over to many providers, not all to one, and most of
// them to the provider that takes them once the owner leaves the ring: their keys move
// once.
func TestFailoverSpreadsAndMovesOnce(t *testing.T) {
	for _, n := range []int{5, 10, 30} {
		ps := providers(n)
		sr, err := buildRing(ps, defaultRing, 3)
		if err != nil {
			t.Fatal(err)
		}
		spread, settled, total := 0, 0, 0
		for dead := range ps {
			rest := slices.Delete(slices.Clone(ps), dead, dead+1)
			after, err := buildRing(rest, defaultRing, 3)
			if err != nil {
				t.Fatal(err)
			}
			seconds := map[string]bool{}
			for p, order := range sr.parts {
				if int(order[0]) != dead {
					continue
				}
				total++
				second := ps[order[1]].node
				seconds[second] = true
				if rest[after.parts[p][0]].node == second {
					settled++
				}
			}
			spread += len(seconds)
		}
		avgSpread := float64(spread) / float64(n)
		t.Logf("%d providers: a dead owner's partitions fail over to %.1f providers on average; %.0f%% of them to the provider that takes them for good", n, avgSpread, 100*float64(settled)/float64(total))
		if avgSpread < 3 {
			t.Errorf("%d providers: a dead owner's partitions fail over to %.1f providers on average", n, avgSpread)
		}
		if float64(settled) < 0.6*float64(total) {
			t.Errorf("%d providers: %d of %d partitions fail over to the provider that takes them for good", n, settled, total)
		}
	}
}

func BenchmarkBuildSnapshot(b *testing.B) {
	nodes := ringNodes(50)
	for b.Loop() {
		buildSnapshot(nodes, nil, defaultRing, DefaultFailover)
	}
}

// TestRingMovesAsDocumented holds the figures docs/OPERATIONS.md gives ("Tuning the
// rings"): the share of keys that move when one provider leaves, on average over
// which one leaves, and its range.
func TestRingMovesAsDocumented(t *testing.T) {
	for _, tc := range []struct {
		n               int
		avgLo, avgHi    float64
		lowest, highest float64
	}{
		{10, 0.11, 0.13, 0.08, 0.16},
		{3, 0.33, 0.38, 0.26, 0.48},
	} {
		all := providers(tc.n)
		before, _ := buildRing(all, defaultRing, 3)
		const keys = 20000
		var sum, lo, hi float64
		lo = 1
		for leaving := range all {
			after, _ := buildRing(append(slices.Clone(all[:leaving]), all[leaving+1:]...), defaultRing, 3)
			moved := 0
			for i := range keys {
				k := fmt.Sprintf("key-%d", i)
				if owner(before, k) != owner(after, k) {
					moved++
				}
			}
			share := float64(moved) / keys
			sum += share
			lo, hi = min(lo, share), max(hi, share)
		}
		avg := sum / float64(tc.n)
		t.Logf("%d providers, one leaves: %.1f%% of keys move on average, %.1f%% to %.1f%%", tc.n, 100*avg, 100*lo, 100*hi)
		if avg < tc.avgLo || avg > tc.avgHi || lo < tc.lowest || hi > tc.highest {
			t.Errorf("%d providers: %.3f on average, %.3f to %.3f; docs say %.2f to %.2f on average, %.2f to %.2f", tc.n, avg, lo, hi, tc.avgLo, tc.avgHi, tc.lowest, tc.highest)
		}
	}
}
