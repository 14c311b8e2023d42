package registry

import (
	"context"
	"fmt"
	"os"
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
// takes, from the last join, until every node sees all 50 alive with their catalogs.
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
					o.Preset, o.BindAddr, o.BindPort = preset, "127.0.0.1", 0
				})
				nodes = append(nodes, nd)
				if i == 0 {
					seeds = []string{nd.reg.GossipAddr()}
				}
			}
			joined := time.Now()
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			for _, nd := range nodes {
				if err := nd.reg.WaitFor(ctx, func(s Snapshot) bool { return len(s.Services[whoDesc.Name]) == n }); err != nil {
					t.Fatal(err)
				}
			}
			converged := time.Since(joined)
			for _, nd := range nodes {
				if err := nd.reg.WaitFor(ctx, func(s Snapshot) bool { return len(s.Divergent()) == 0 }); err != nil {
					t.Fatal(err)
				}
			}
			t.Logf("preset %v: %d nodes joined in %v; every node saw all %d providers %v after the last join, and every ring digest agreed after %v",
				preset, n, joined.Sub(start).Round(time.Millisecond), n, converged.Round(time.Millisecond), time.Since(joined).Round(time.Millisecond))
		})
	}
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
					o.BindAddr, o.BindPort = "127.0.0.1", 0
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
