package registry

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// The measurements below take tens of seconds and run only on request:
//
//	RINGRPC_MEASURE=1 go test -run Measure -v ./registry
func measuring(t *testing.T) {
	if os.Getenv("RINGRPC_MEASURE") == "" {
		t.Skip("set RINGRPC_MEASURE=1 to run")
	}
}

// TestMeasureConvergence starts 50 nodes one after another and times how long it
// takes, from the last join, until every node sees all 50 alive with their catalogs;
// it fails when that takes 3 s or more. It also times how long until every node
// has every member's ring digest, each equal to its own. Five runs: -count 5.
func TestMeasureConvergence(t *testing.T) {
	measuring(t)
	for _, preset := range []Preset{Local, LAN} {
		t.Run(fmt.Sprint(preset), func(t *testing.T) {
			const n = 50
			var nodes []*node
			var seeds []string
			start := time.Now()
			for i := range n {
				nd := startProvider(t, fmt.Sprintf("n%02d", i), seeds, func(o *Options) {
					o.Preset, o.BindAddr, o.BindPort = preset, "127.0.0.1", -1
				})
				nodes = append(nodes, nd)
				if i == 0 {
					seeds = []string{nd.reg.GossipAddr()}
				}
			}
			joined := time.Now()
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			res := make(chan []nodeTime, 1)
			go func() {
				res <- convergence(ctx, nodes, func(s Snapshot) bool { return len(s.Services[whoDesc.Name]) == n })
			}()
			var took []nodeTime
			select {
			case took = <-res:
			case <-time.After(3*time.Second - time.Since(joined)):
				t.Logf("3 s after the last join, these nodes lack providers:%s", lagging(nodes, n))
				took = <-res
			}
			slowest := slices.MaxFunc(took, func(a, b nodeTime) int { return cmp.Compare(a.took, b.took) })
			if slowest.took < 0 {
				t.Fatalf("preset %v: not every node saw all %d providers within 3 minutes of the last join: %s", preset, n, lagging(nodes, n))
			}
			convergence(ctx, nodes, func(s Snapshot) bool { return digestsAgree(s, n) })
			agreed := time.Since(joined)
			t.Logf("preset %v: %d nodes joined in %v; every node saw all %d providers %v after the last join (last: %s), and every ring digest agreed after %v",
				preset, n, joined.Sub(start).Round(time.Millisecond), n, slowest.took.Round(time.Millisecond), slowest.node, agreed.Round(time.Millisecond))
			if slowest.took >= 3*time.Second {
				t.Errorf("preset %v: convergence took %v after the last join, want under 3 s", preset, slowest.took.Round(time.Millisecond))
			}
		})
	}
}

// digestsAgree reports whether the snapshot holds n members, each of which
// published the ring digest that the snapshot has.
func digestsAgree(s Snapshot, n int) bool {
	if len(s.Members) != n {
		return false
	}
	for _, m := range s.Members {
		if m.RingDigest != s.Digest {
			return false
		}
	}
	return true
}

// describe says what r knows of member name, for a report.
func (r *Registry) describe(name string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	ns := r.nodes[name]
	if ns == nil {
		return name + "{unknown}"
	}
	cat := "none"
	if ns.cat != nil {
		cat = fmt.Sprintf("v%d with %d services", ns.cat.version, len(ns.cat.services))
	}
	return fmt.Sprintf("%s{gossip %q rpc %q meta v%d %d services flags %b gen %d doubt %v catalog %s}",
		name, ns.gossip, ns.meta.rpcAddr, ns.meta.version, ns.meta.services, ns.meta.flags, ns.gen, ns.doubt, cat)
}

type nodeTime struct {
	node string
	took time.Duration // -1: never
}

// convergence waits, for every node at once, until cond holds for it, and returns
// how long each took from now.
func convergence(ctx context.Context, nodes []*node, cond func(Snapshot) bool) []nodeTime {
	start := time.Now()
	out := make([]nodeTime, len(nodes))
	var wg sync.WaitGroup
	for i, nd := range nodes {
		wg.Go(func() {
			out[i] = nodeTime{nd.name, -1}
			if nd.reg.WaitFor(ctx, cond) == nil {
				out[i].took = time.Since(start)
			}
		})
	}
	wg.Wait()
	return out
}

// lagging describes the nodes whose rings lack providers: what they miss and how
// many members they know.
func lagging(nodes []*node, n int) string {
	var b strings.Builder
	for _, nd := range nodes {
		s := nd.reg.Snapshot()
		if len(s.Services[whoDesc.Name]) == n {
			continue
		}
		has := map[string]bool{}
		for _, o := range s.Services[whoDesc.Name] {
			has[o.Node] = true
		}
		var missing []string
		for _, o := range nodes {
			if !has[o.name] {
				missing = append(missing, o.name)
			}
		}
		known, pending := nd.reg.catalogCounts()
		fmt.Fprintf(&b, "\n%s: %d members known, %d catalogs pending, missing %v:", nd.name, known, pending, missing)
		for _, m := range missing {
			fmt.Fprintf(&b, " %s", nd.reg.describe(m))
		}
	}
	return b.String()
}

// TestMeasureDeadRemoval kills a provider without a leave and times its removal from a
// consumer's ring.
func TestMeasureDeadRemoval(t *testing.T) {
	measuring(t)
	for _, preset := range []Preset{Fast, LAN} {
		t.Run(fmt.Sprint(preset), func(t *testing.T) {
			mut := func(o *Options) {
				o.Preset = preset
				if preset == LAN {
					o.BindAddr, o.BindPort = "127.0.0.1", -1
				}
			}
			var nodes []*node
			var seeds []string
			for i := range 3 {
				nd := startProvider(t, fmt.Sprintf("p%d", i), seeds, mut)
				nodes = append(nodes, nd)
				if i == 0 {
					seeds = []string{nd.reg.GossipAddr()}
				}
			}
			reg, _ := startConsumer(t, "consumer", seeds, mut)
			providersOf(t, reg, whoDesc.Name, 3)
			killed := time.Now()
			nodes[1].stop()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if err := reg.WaitFor(ctx, func(s Snapshot) bool { return len(s.Services[whoDesc.Name]) == 2 }); err != nil {
				t.Fatal(err)
			}
			t.Logf("preset %v: a killed provider left the consumer's ring after %v", preset, time.Since(killed).Round(time.Millisecond))
		})
	}
}
