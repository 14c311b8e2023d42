package registry

import (
	"context"
	"encoding/json"
	"flag"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/ringrpc/ringrpc/rpc"
)

// Leave takes the node out of the cluster and leaves the server it was given
// serving; Shutdown would shut it down.
func TestLeaveKeepsTheServer(t *testing.T) {
	p := startProvider(t, "p", nil, nil)
	reg, _ := startConsumer(t, "c", []string{p.reg.GossipAddr()}, nil)
	providersOf(t, reg, whoDesc.Name, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.reg.Leave(ctx); err != nil {
		t.Fatal(err)
	}
	providersOf(t, reg, whoDesc.Name, 0)
	direct, err := rpc.NewClient(rpc.ClientOptions{Resolver: rpc.StaticAddress(p.reg.opts.RPCAddr)})
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close()
	if n, err := who(ctx, direct, "k"); err != nil || n != "p" {
		t.Fatalf("the server after Leave: %q %v", n, err)
	}
}

// Presets, strategies and member states print and parse themselves, in flags and
// in JSON.
func TestNamesParse(t *testing.T) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var p Preset
	var s Strategy
	fs.TextVar(&p, "preset", LAN, "")
	fs.TextVar(&s, "strategy", Ring, "")
	if err := fs.Parse([]string{"-preset", "Fast", "-strategy", "round-robin"}); err != nil || p != Fast || s != RoundRobin {
		t.Fatalf("%v %v %v", p, s, err)
	}
	if err := fs.Parse([]string{"-preset", "quick"}); err == nil || !strings.Contains(err.Error(), `unknown preset "quick": use lan, wan, local, fast`) {
		t.Fatalf("%v", err)
	}
	if Preset(9).String() != "Preset(9)" || Local.String() != "local" || Random.String() != "random" {
		t.Fatal(Preset(9).String(), Local.String(), Random.String())
	}
	b, err := json.Marshal(Member{Name: "n", State: StateSyncing})
	if err != nil || !strings.Contains(string(b), `"State":"syncing"`) {
		t.Fatalf("%s %v", b, err)
	}
	var m Member
	if err := json.Unmarshal(b, &m); err != nil || m.State != StateSyncing {
		t.Fatalf("%+v %v", m, err)
	}
}
