package registry

import (
	"context"
	"net"
	"strconv"
	"testing"
)

// TestGossipPortDefaults: BindPort 0 is the preset's port, whether BindAddr is set or
// not: DefaultGossipPort with LAN and WAN, the port the seeds of a LAN name; an
// ephemeral one with Local and Fast. A negative BindPort asks for an ephemeral port
// with any preset.
func TestGossipPortDefaults(t *testing.T) {
	for _, tc := range []struct {
		name   string
		preset Preset
		addr   string
		port   int
		want   int // 0: ephemeral
	}{
		{"LAN", LAN, "", 0, DefaultGossipPort},
		{"LAN with BindAddr alone", LAN, "127.0.0.1", 0, DefaultGossipPort},
		{"WAN with BindAddr alone", WAN, "127.0.0.1", 0, DefaultGossipPort},
		{"LAN with BindPort", LAN, "127.0.0.1", 7000, 7000},
		{"LAN with a negative BindPort", LAN, "127.0.0.1", -1, 0},
		{"Fast", Fast, "", 0, 0},
		{"Fast with BindAddr alone", Fast, "127.0.0.1", 0, 0},
		{"Local with BindPort", Local, "", 7000, 7000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Options{NodeName: "n", Preset: tc.preset, BindAddr: tc.addr, BindPort: tc.port}.resolve()
			if err != nil {
				t.Fatal(err)
			}
			if r.ml.BindPort != tc.want {
				t.Errorf("gossip binds port %d, want %d", r.ml.BindPort, tc.want)
			}
			if tc.addr != "" && r.ml.BindAddr != tc.addr {
				t.Errorf("gossip binds %s, want %s", r.ml.BindAddr, tc.addr)
			}
		})
	}
}

// TestNegativeBindPortBindsEphemeralPort: a LAN node given BindPort -1 gossips on a
// port the system picked, never DefaultGossipPort.
func TestNegativeBindPortBindsEphemeralPort(t *testing.T) {
	reg, err := Join(context.Background(), Options{NodeName: "lan-ephemeral", Preset: LAN, BindAddr: "127.0.0.1", BindPort: -1, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	_, port, err := net.SplitHostPort(reg.GossipAddr())
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := strconv.Atoi(port); n == 0 || n == DefaultGossipPort {
		t.Fatalf("gossip at %s, want an ephemeral port", reg.GossipAddr())
	}
}
