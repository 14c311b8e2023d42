package registry

import (
	"context"
	"fmt"
	"maps"
	"net"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// freePort returns a port free for both UDP and TCP on loopback, for a node that
// must come back at the same gossip address.
func freePort(t *testing.T) int {
	t.Helper()
	for range 20 {
		u, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		port := u.LocalAddr().(*net.UDPAddr).Port
		l, err := net.Listen("tcp", u.LocalAddr().String())
		u.Close()
		if err == nil {
			l.Close()
			return port
		}
	}
	t.Fatal("no free port")
	return 0
}

// outage lets time pass with a node down, longer than memberlist keeps gossiping
// to the dead (2 s with Fast): what a real outage looks like. It is the scenario's
// length, not a synchronisation.
func outage(d time.Duration) { <-time.After(d) }

// The first node, restarted at its address without seeds and without a state file,
// is found again by the members that remember it: the cluster does not split.
func TestRestartedSeedIsFoundAgain(t *testing.T) {
	port := freePort(t)
	at := func(o *Options) { o.BindAddr, o.BindPort = "127.0.0.1", port }
	p0 := startProvider(t, "p0", nil, at)
	seeds := []string{p0.reg.GossipAddr()}
	startProvider(t, "p1", seeds, nil)
	reg, _ := startConsumer(t, "c", seeds, nil)
	providersOf(t, reg, whoDesc.Name, 2)
	p0.stop()
	providersOf(t, reg, whoDesc.Name, 1)
	outage(3 * time.Second)
	start := time.Now()
	again := startProvider(t, "p0", nil, at)
	providersOf(t, again.reg, whoDesc.Name, 2)
	t.Logf("restarted seed sees the cluster after %v", time.Since(start))
	providersOf(t, reg, whoDesc.Name, 2)
	t.Logf("the cluster sees the restarted seed after %v", time.Since(start))
}

// A node restarted with its state file and no seeds rejoins the members it knew.
func TestStateFileRejoinsWithoutSeeds(t *testing.T) {
	p := startProvider(t, "p", nil, nil)
	file := filepath.Join(t.TempDir(), "state.json")
	withFile := func(o *Options) { o.StateFile = file }
	first, _ := startConsumer(t, "c", []string{p.reg.GossipAddr()}, withFile)
	providersOf(t, first, whoDesc.Name, 1)
	first.Close()
	again, _ := startConsumer(t, "", nil, withFile)
	if again.Name() != "c" {
		t.Fatalf("restarted as %q, want the kept name c", again.Name())
	}
	providersOf(t, again, whoDesc.Name, 1)
}

// Every node's rings agree, and each can tell: the digests it gossips match.
func TestRingChecksumsAgree(t *testing.T) {
	nodes, seeds := cluster(t, 3)
	reg, _ := startConsumer(t, "c", seeds, nil)
	all := []*Registry{reg, nodes[0].reg, nodes[1].reg, nodes[2].reg}
	for _, r := range all {
		agreed(t, r, 4)
	}
	want := reg.Snapshot().Checksums[whoDesc.Name]
	for _, r := range all {
		if got := r.Snapshot().Checksums[whoDesc.Name]; got != want || got == 0 {
			t.Fatalf("%s has ring checksum %x, %s has %x", r.Name(), got, reg.Name(), want)
		}
	}
}

// A node that joins learns every member's ring digest from its seed at once, as
// `ringrpc ring` needs, although digests are gossiped apart from the metadata. What it
// learns is what the seed knew: on a loaded machine a provider suspected for a moment
// changes the rings, and a digest gossiped meanwhile has not reached the seed yet, so
// a join that saw the cluster move is tried again with a new consumer. The nodes probe
// at the Local preset's pace, which a loaded machine does not make them miss.
func TestJoinerLearnsRingDigests(t *testing.T) {
	nodes, seeds := clusterWith(t, 3, localPace)
	var mismatch string
	for attempt := range 3 {
		for _, n := range nodes {
			agreed(t, n.reg, 3+attempt)
		}
		reg, _ := startConsumer(t, fmt.Sprintf("c%d", attempt), seeds, localPace)
		seen := digestsOf(reg.Snapshot())
		seed := digestsOf(nodes[0].reg.Snapshot())
		mismatch = ""
		for _, n := range nodes {
			if d := seen[n.name]; d == 0 || d != seed[n.name] {
				mismatch += fmt.Sprintf("; %s: %x, the seed has %x", n.name, d, seed[n.name])
			}
		}
		if mismatch == "" {
			return
		}
		t.Logf("attempt %d: right after Join%s", attempt+1, mismatch)
	}
	t.Fatalf("in three joins the consumer never had every provider's ring digest right after Join%s", mismatch)
}

// localPace sets the Local preset: tests that need no quick failure detection probe
// at its pace, which a loaded machine does not make them miss.
func localPace(o *Options) { o.Preset = Local }

// digestsOf returns the ring digest s has for each member.
func digestsOf(s Snapshot) map[string]uint64 {
	m := map[string]uint64{}
	for _, mem := range s.Members {
		m[mem.Name] = mem.RingDigest
	}
	return m
}

// agreed waits until r sees members members, all with its ring digest.
func agreed(t *testing.T, r *Registry, members int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := r.WaitFor(ctx, func(s Snapshot) bool {
		if len(s.Members) != members || len(s.Divergent()) > 0 {
			return false
		}
		for _, m := range s.Members {
			if m.RingDigest == 0 {
				return false
			}
		}
		return true
	})
	if err != nil {
		s := r.Snapshot()
		t.Fatalf("%s: %v; digest %x, members %+v", r.Name(), err, s.Digest, s.Members)
	}
}

// A node that builds its rings differently is seen as divergent by the others.
func TestRingDivergenceVisible(t *testing.T) {
	_, seeds := cluster(t, 2)
	reg, _ := startConsumer(t, "c", seeds, nil)
	odd, _ := startConsumer(t, "odd", seeds, func(o *Options) { o.Ring.PartitionCount = 101 })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := reg.WaitFor(ctx, func(s Snapshot) bool {
		d := s.Divergent()
		return len(d) == 1 && d[0].Name == "odd"
	})
	if err != nil {
		t.Fatalf("%v: divergent %+v", err, reg.Snapshot().Divergent())
	}
	_ = odd
}

// A rejoin round tries the freshest missing members first and some others at
// random, never one address twice.
func TestRejoinPick(t *testing.T) {
	addrs := dedup([]string{"a", "b", "a", "c", "d", "e", "f", "g"})
	if len(addrs) != 7 {
		t.Fatalf("dedup: %v", addrs)
	}
	for range 20 {
		got := pick(addrs, rejoinFanout)
		if len(got) != rejoinFanout || got[0] != "a" || got[1] != "b" || len(dedup(slices.Clone(got))) != rejoinFanout {
			t.Fatalf("pick: %v", got)
		}
	}
	if got := pick([]string{"a"}, rejoinFanout); len(got) != 1 {
		t.Fatalf("pick of one: %v", got)
	}
}

// A member whose ring digest differs, or has not reached this node, for a whole
// round gets a state exchange: gossip reaches almost every member, not always all.
func TestResyncTargets(t *testing.T) {
	s := &snapshot{digest: 7, members: []Member{
		{Name: "self", GossipAddr: "10.0.0.1:7946", RingDigest: 7},
		{Name: "same", GossipAddr: "10.0.0.2:7946", RingDigest: 7},
		{Name: "other", GossipAddr: "10.0.0.3:7946", RingDigest: 8},
		{Name: "unheard", GossipAddr: "10.0.0.4:7946"},
		{Name: "new", GossipAddr: "10.0.0.5:7946", RingDigest: 9},
	}}
	now, targets := resyncTargets(s, "self", map[string]bool{"other": true, "unheard": true, "same": true, "self": true})
	if want := map[string]bool{"other": true, "unheard": true, "new": true}; !maps.Equal(now, want) {
		t.Errorf("this round %v, want %v", now, want)
	}
	slices.Sort(targets)
	if want := []string{"10.0.0.3:7946", "10.0.0.4:7946"}; !slices.Equal(targets, want) {
		t.Errorf("targets %v, want %v", targets, want)
	}
}
