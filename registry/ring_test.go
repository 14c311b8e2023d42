package registry

import (
	"context"
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

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
	snap, errs := buildSnapshot(nodes, defaultRing, 3)
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
