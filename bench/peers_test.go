package bench_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/ringrpc/ringrpc/bench/internal/load"
	"github.com/ringrpc/ringrpc/bench/internal/peers"
)

// serverEnv makes the test binary serve the named peer, as cmd/peers -role=server.
const serverEnv = "RINGRPC_BENCH_SERVE_PEER"

func TestMain(m *testing.M) {
	if name := os.Getenv(serverEnv); name != "" {
		if err := peers.ServeMain(name, os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// startServer serves p from a child process until the test ends. A peer linked only
// into the build with the tag kitex is skipped in the others.
func startServer(t *testing.T, p peers.Peer) string {
	t.Helper()
	if p.Serve == nil {
		t.Skipf("%s is linked only into the build with -tags kitex: go test -tags kitex .", p.Name)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), serverEnv+"="+p.Name)
	cmd.Stderr = os.Stderr
	s, err := peers.StartServer(cmd)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("server process: %v", err)
		}
	})
	return s.Addr
}

// TestPeers makes 200 checked calls of each payload on each peer, from 1 and from
// 16 callers, with the server in another process.
func TestPeers(t *testing.T) {
	for _, p := range peers.All {
		t.Run(p.Name, func(t *testing.T) {
			addr := startServer(t, p)
			for _, w := range peers.Workloads {
				for _, n := range []int{1, 16} {
					t.Run(fmt.Sprintf("%s/callers=%d", w.Name, n), func(t *testing.T) {
						callMany(t, p, addr, w, n, 200)
					})
				}
			}
		})
	}
}

// callMany makes calls checked calls of w on one client of p, split among callers.
func callMany(t *testing.T, p peers.Peer, addr string, w peers.Workload, callers, calls int) {
	c, err := p.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for g := range callers {
		wg.Go(func() {
			for i := g; i < calls; i += callers {
				if err := w.Call(ctx, c); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// TestRun measures every peer for a moment, as cmd/peers does.
func TestRun(t *testing.T) {
	for _, p := range peers.All {
		t.Run(p.Name, func(t *testing.T) {
			addr := startServer(t, p)
			c, err := p.Dial(addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			w := peers.Workloads[0]
			cfg := load.Config{Callers: 4, Warmup: 20 * time.Millisecond, Duration: 100 * time.Millisecond}
			res, err := load.Run(cfg, func(ctx context.Context) error { return w.Call(ctx, c) })
			if err != nil {
				t.Fatal(err)
			}
			if res.Calls() == 0 || res.Rate() <= 0 || res.Latency.Quantile(0.99) < res.Latency.Quantile(0.5) {
				t.Errorf("calls %d, rate %.0f, p50 %v, p99 %v", res.Calls(), res.Rate(), res.Latency.Quantile(0.5), res.Latency.Quantile(0.99))
			}
		})
	}
}
