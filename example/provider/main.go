// Command provider serves the Hello and World services and joins a ringrpc cluster.
//
//	provider -name p1 -seed 127.0.0.1:7946 [-http 127.0.0.1:8080]
//
// It prints one line, "READY name=... rpc=... gossip=... metrics=...", once it serves
// and has joined, and a "DEBUG page=..." line. Its OpenTelemetry metrics are served in
// the Prometheus text format at the metrics URL, and the debug page at the page URL,
// on one HTTP address (-http) that shows the cluster: keep it internal. SIGINT or SIGTERM makes it leave
// gracefully: it announces the leave, waits for consumers to stop routing to it,
// finishes the calls in flight, then exits.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ringrpc/ringrpc/registry"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "provider:", err)
		os.Exit(1)
	}
}

func run() error {
	var cfg config
	flag.StringVar(&cfg.name, "name", "", "node name, unique in the cluster (default: host name and a random suffix)")
	flag.StringVar(&cfg.rpc, "rpc", "127.0.0.1:0", "address to serve RPC on")
	flag.StringVar(&cfg.gossip, "gossip", "127.0.0.1:0", "address for gossip (UDP and TCP)")
	flag.StringVar(&cfg.http, "http", "127.0.0.1:0", "address to serve /metrics on")
	seeds := flag.String("seed", "", "comma-separated gossip addresses of cluster members; empty starts a cluster")
	cfg.preset = registry.Fast
	flag.TextVar(&cfg.preset, "preset", registry.Fast, "failure detection: fast, local, lan or wan")
	flag.Parse()
	cfg.seeds = splitList(*seeds)
	cfg.log = slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{Level: slog.LevelInfo}))

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, err := start(ctx, cfg)
	if err != nil {
		return err
	}
	fmt.Printf("READY name=%s rpc=%s gossip=%s metrics=http://%s/metrics\n", p.reg.Name(), p.rpcAddr, p.reg.GossipAddr(), p.httpAddr)
	fmt.Printf("DEBUG page=http://%s/debug/ringrpc\n", p.httpAddr)

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	<-stop
	ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.shutdown(ctx); err != nil {
		return err
	}
	fmt.Printf("LEFT name=%s\n", p.reg.Name())
	return nil
}

func splitHostPort(addr string) (string, int, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("-gossip %q: %w", addr, err)
	}
	n, err := strconv.Atoi(port)
	if n == 0 {
		n = -1 // port 0 asks for an ephemeral port, whatever the preset
	}
	return host, n, err
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
