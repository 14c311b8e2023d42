package registry

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ringrpc/ringrpc/rpc"
)

// A call made as soon as Join returns reaches a provider: Join waited for the
// catalogs of the members it reached, the seed's and the others'.
func TestJoinReturnsWithTheCatalogs(t *testing.T) {
	nodes, seeds := clusterWith(t, 3, localPace)
	// Join learns the members, and what they serve, from its seed: the seed has to
	// have settled, whatever other nodes have seen (under load the gossip of a
	// provider's services can reach a watcher before the seed).
	providersOf(t, nodes[0].reg, whoDesc.Name, 3)
	reg, c := startConsumer(t, "consumer", seeds, localPace)
	// The promise is for the members Join reached: a provider the seed suspected
	// at that moment (a loaded machine, the fast preset) is not passed on by
	// memberlist's push/pull, and comes later by gossip.
	snap := reg.Snapshot()
	reached := 0
	for _, m := range snap.Members {
		if !strings.HasPrefix(m.Name, "p") {
			continue
		}
		reached++
		if !holds(snap.Services[whoDesc.Name], m.Name) {
			t.Fatalf("right after Join, provider %s is a member (%v) but not on the ring of %s: %v",
				m.Name, m.State, whoDesc.Name, snap.Services[whoDesc.Name])
		}
	}
	if reached == 0 {
		t.Fatalf("right after Join the consumer knows no provider: %+v", snap.Members)
	}
	if reached < 3 {
		t.Logf("Join reached %d of the 3 providers", reached)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := who(ctx, c, "k"); err != nil {
		t.Fatalf("a call right after Join: %v", err)
	}
}

// A call that finds no provider waits for one to join (wait-for-ready).
func TestCallWaitsForAProvider(t *testing.T) {
	reg, c := startConsumer(t, "consumer", nil, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := who(ctx, c, "k")
		done <- err
	}()
	waitFor(t, "the call to wait for a provider", func() bool { return reg.waiting.Load() == 1 })
	startProvider(t, "late", []string{reg.GossipAddr()}, nil)
	if err := <-done; err != nil {
		t.Fatalf("the call did not wait for the provider: %v", err)
	}
}

// The error of a call without a provider says what the node knows, and how long the
// call waited.
func TestNoProviderError(t *testing.T) {
	tests := []struct {
		name      string
		readyWait time.Duration
		deadline  time.Duration // 0: none
		code      rpc.Code
		want      string
		minWait   time.Duration
	}{
		{"wait off", -1, 0, rpc.CodeUnavailable, "(members known: 1, catalogs pending: 0; not waiting: registry.Options.ReadyWait is negative)", 0},
		{"ReadyWait without a deadline", 150 * time.Millisecond, 0, rpc.CodeUnavailable, "(members known: 1, catalogs pending: 0; waited 150ms, registry.Options.ReadyWait)", 150 * time.Millisecond},
		{"until the deadline", time.Hour, 150 * time.Millisecond, rpc.CodeUnavailable, "until the call's deadline", 150 * time.Millisecond},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, c := startConsumer(t, "alone", nil, func(o *Options) { o.ReadyWait = tc.readyWait })
			ctx := context.Background()
			start := time.Now() // before the deadline is set: a pause between them is not the wait's
			if tc.deadline > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.deadline)
				defer cancel()
			}
			_, err := who(ctx, c, "k")
			took := time.Since(start)
			if rpc.CodeOf(err) != tc.code || !strings.Contains(err.Error(), "no provider of service test.Who is in the cluster that alone sees") || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("%v (code %v), want code %v and %q", err, rpc.CodeOf(err), tc.code, tc.want)
			}
			if took < tc.minWait || took > tc.minWait+2*time.Second {
				t.Fatalf("failed after %v, want about %v", took, tc.minWait)
			}
		})
	}
}

// A caller that cancels while waiting for a provider gets CodeCanceled, at once.
func TestWaitForProviderCanceled(t *testing.T) {
	reg, c := startConsumer(t, "alone", nil, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := who(ctx, c, "k")
		done <- err
	}()
	waitFor(t, "the call to wait for a provider", func() bool { return reg.waiting.Load() == 1 })
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) && rpc.CodeOf(err) != rpc.CodeCanceled {
		t.Fatalf("%v, want canceled", err)
	}
}

// A node that serves nothing is in no ring: its Shutdown does not wait for the leave
// to propagate.
func TestConsumerShutdownIsQuick(t *testing.T) {
	_, seeds := cluster(t, 1)
	reg, _ := startConsumer(t, "consumer", seeds, func(o *Options) { o.LeavePropagation = 10 * time.Second })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	start := time.Now()
	if err := reg.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("Shutdown of a consumer took %v: it waited for a propagation that no ring needs", took)
	}
}

// waitFor polls cond until it holds, for at most 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	limit := time.After(10 * time.Second)
	for !cond() {
		select {
		case <-tick.C:
		case <-limit:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// A missing catalog is asked for again at a pace that fits the preset's promises.
func TestRefetchInterval(t *testing.T) {
	for _, tc := range []struct {
		probe, want time.Duration
	}{
		{100 * time.Millisecond, 500 * time.Millisecond}, // Fast
		{200 * time.Millisecond, time.Second},
		{time.Second, 2 * time.Second}, // LAN, Local
		{5 * time.Second, 2 * time.Second},
		{time.Millisecond, 500 * time.Millisecond},
	} {
		if got := refetchInterval(tc.probe); got != tc.want {
			t.Errorf("probe %v: every %v, want %v", tc.probe, got, tc.want)
		}
	}
}
