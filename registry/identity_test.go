package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// Two clusters with different names stay apart even when a node's seeds name
// members of both.
func TestClusterKeepsClustersApart(t *testing.T) {
	a := startProvider(t, "a0", nil, func(o *Options) { o.Cluster = "blue" })
	b := startProvider(t, "b0", nil, func(o *Options) { o.Cluster = "green" })
	crossed := []string{a.reg.GossipAddr(), b.reg.GossipAddr()}
	b1 := startProvider(t, "b1", crossed, func(o *Options) { o.Cluster = "green" })
	providersOf(t, b1.reg, whoDesc.Name, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := b1.reg.WaitFor(ctx, func(s Snapshot) bool { return len(s.Members) > 2 })
	if err == nil {
		t.Fatalf("a node of cluster green sees %v", names(b1.reg.Members()))
	}
	if got := names(a.reg.Members()); !slices.Equal(got, []string{"a0"}) {
		t.Fatalf("cluster blue sees %v", got)
	}
	jctx, jcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer jcancel()
	_, err = Join(jctx, Options{NodeName: "c", Preset: Fast, Seeds: []string{a.reg.GossipAddr()}, Cluster: "red", Logger: quiet})
	if err == nil || !strings.Contains(err.Error(), `cluster "red"`) {
		t.Fatalf("joining another cluster's seed: %v, want an error naming the cluster", err)
	}
}

func names(ms []Member) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Name)
	}
	slices.Sort(out)
	return out
}

// A node whose name is alive at another address does not join: Join says so.
func TestNameConflictFailsJoin(t *testing.T) {
	p := startProvider(t, "dup", nil, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r, err := Join(ctx, Options{NodeName: "dup", Preset: Fast, Seeds: []string{p.reg.GossipAddr()}, Logger: quiet})
	if err == nil {
		r.Close()
		t.Fatal("a second node named dup joined")
	}
	want := `the name "dup" is alive at ` + p.reg.GossipAddr()
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("%v, want %q", err, want)
	}
}

// Without NodeName a provider is named by its RPC address, and a node with a state
// file keeps its name across restarts.
func TestDefaultNameIsStable(t *testing.T) {
	p := startProvider(t, "", nil, nil)
	if p.reg.Name() != p.reg.opts.RPCAddr {
		t.Fatalf("a provider is named %q, want its RPC address %s", p.reg.Name(), p.reg.opts.RPCAddr)
	}
	file := filepath.Join(t.TempDir(), "state.json")
	var first string
	for i := range 2 {
		r, err := Join(context.Background(), Options{Preset: Fast, StateFile: file, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = r.Name()
		} else if r.Name() != first {
			t.Fatalf("restarted as %q, was %q", r.Name(), first)
		}
		r.Close()
	}
	if st, err := os.Stat(file); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("state file: %v %v, want mode 0600", st, err)
	}
}

// Gossip keys rotate on a live cluster: install, use, remove, from any member.
func TestKeyRotation(t *testing.T) {
	old, next := []byte("0123456789abcdef"), []byte("fedcba9876543210")
	withKey := func(k []byte) func(*Options) { return func(o *Options) { o.SecretKey = k } }
	p0 := startProvider(t, "p0", nil, withKey(old))
	seeds := []string{p0.reg.GossipAddr()}
	p1 := startProvider(t, "p1", seeds, withKey(old))
	reg, _ := startConsumer(t, "c", seeds, withKey(old))
	providersOf(t, reg, whoDesc.Name, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p0.reg.UseKey(ctx, next); err == nil || !strings.Contains(err.Error(), "install it on every member first") {
		t.Fatalf("using a key the others do not have: %v", err)
	}
	if err := p0.reg.WaitFor(ctx, func(s Snapshot) bool { return len(s.Members) == 3 }); err != nil || !bytes.Equal(p0.reg.Keys()[0], old) {
		t.Fatalf("a failed UseKey switched this node: %v %x", err, p0.reg.Keys())
	}
	// Each step is idempotent, and its error says to run it again: on a loaded
	// machine a member's confirmation can miss the 500 ms TCP timeout of Fast.
	for _, step := range []func() error{
		func() error { return reg.InstallKey(ctx, next) },
		func() error { return reg.UseKey(ctx, next) },
		func() error { return reg.RemoveKey(ctx, old) },
	} {
		if err := step(); err != nil {
			t.Logf("%v; again", err)
			if err := step(); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, r := range []*Registry{p0.reg, p1.reg, reg} {
		if keys := r.Keys(); len(keys) != 1 || !bytes.Equal(keys[0], next) {
			t.Fatalf("%s keeps keys %q, want only the new one", r.Name(), keys)
		}
	}
	late, _ := startConsumer(t, "late", seeds, withKey(next))
	providersOf(t, late, whoDesc.Name, 2)
	jctx, jcancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer jcancel()
	if r, err := Join(jctx, Options{NodeName: "stale", Preset: Fast, Seeds: seeds, SecretKey: old, Logger: quiet}); err == nil {
		r.Close()
		t.Fatal("a node with the removed key joined")
	}
}

// Rotating keys without encryption says what to do.
func TestKeyRotationNeedsEncryption(t *testing.T) {
	reg, _ := startConsumer(t, "plain", nil, nil)
	err := reg.InstallKey(context.Background(), []byte("0123456789abcdef"))
	if err == nil || !strings.Contains(err.Error(), "Options.SecretKey") {
		t.Fatalf("%v", err)
	}
}

// The state file holds the name, the members seen and the keyring.
func TestStateFileContent(t *testing.T) {
	key := []byte("0123456789abcdef")
	p := startProvider(t, "p", nil, func(o *Options) { o.SecretKey = key })
	file := filepath.Join(t.TempDir(), "state.json")
	reg, _ := startConsumer(t, "c", []string{p.reg.GossipAddr()}, func(o *Options) { o.StateFile, o.SecretKey = file, key })
	reg.saveState()
	var st persisted
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	if st.Name != "c" || len(st.Members) != 1 || st.Members[0].Name != "p" || st.Members[0].Addr != p.reg.GossipAddr() || len(st.Keys) != 1 {
		t.Fatalf("state file: %s", b)
	}
}

// A provider killed and restarted under its kept name at another address, without
// seeds, is on the seed's ring as soon as its Join returns: Join waits for the cluster
// to move the name, whether the seed still holds the old run alive, suspected or
// dead. The pause before the restart is the scenario's, not a wait for an event.
func TestRestartedProviderIsRoutedToWhenJoinReturns(t *testing.T) {
	for _, pause := range []time.Duration{0, 300 * time.Millisecond, 700 * time.Millisecond} {
		t.Run(pause.String(), func(t *testing.T) {
			seed, _ := startConsumer(t, "seed", nil, nil)
			file := filepath.Join(t.TempDir(), "state.json")
			withFile := func(o *Options) { o.StateFile = file }
			p := startProvider(t, "p", []string{seed.GossipAddr()}, withFile)
			providersOf(t, seed, whoDesc.Name, 1)
			p.stop() // no goodbye: as a kill
			time.Sleep(pause)
			again := startProvider(t, "p", nil, withFile)
			joined := time.Now()
			rpcAddr := again.reg.opts.RPCAddr
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err := seed.WaitFor(ctx, func(s Snapshot) bool {
				ps := s.Services[whoDesc.Name]
				return len(ps) == 1 && ps[0].RPCAddr == rpcAddr
			})
			if err != nil {
				t.Fatalf("the seed never routed to the restarted provider: %v (it has %v)", err, seed.Snapshot().Services[whoDesc.Name])
			}
			// A catalog fetch and a rebuild after the join, on a loaded machine.
			if took := time.Since(joined); took > 1500*time.Millisecond { // against seconds of suspicion
				t.Errorf("the seed routed to the restarted provider %v after its Join returned: the name had not moved yet", took)
			}
		})
	}
}

// A previous run the cluster holds dead is not taken for a live node because its
// address answers: that address may serve something else by now. Join waits for the
// name to move, and does not fail with "alive".
func TestDeadPreviousRunsAddressReused(t *testing.T) {
	seed, _ := startConsumer(t, "seed", nil, nil)
	p := startProvider(t, "p", []string{seed.GossipAddr()}, nil)
	providersOf(t, seed, whoDesc.Name, 1)
	old := p.reg.GossipAddr()
	p.stop() // no goodbye: as a kill
	providersOf(t, seed, whoDesc.Name, 0)
	ln, err := net.Listen("tcp", old) // something else took the old gossip port
	if err != nil {
		t.Skipf("the old gossip address was taken meanwhile: %v", err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	again := startProvider(t, "p", []string{seed.GossipAddr()}, nil)
	rpcAddr := again.reg.opts.RPCAddr
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := seed.WaitFor(ctx, func(s Snapshot) bool {
		ps := s.Services[whoDesc.Name]
		return len(ps) == 1 && ps[0].RPCAddr == rpcAddr
	}); err != nil {
		t.Fatalf("the seed never routed to the restarted provider: %v", err)
	}
}
