// Command provider serves the Hello and World services and joins a ringrpc cluster.
//
//	provider -name p1 -seed 127.0.0.1:7946 [-debug 127.0.0.1:8080]
//
// It prints one line, "READY name=... rpc=... gossip=...", once it serves and has
// joined. SIGINT or SIGTERM makes it leave gracefully: it announces the leave, waits
// for consumers to stop routing to it, finishes the calls in flight, then exits.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ringrpc/ringrpc/example/hello"
	"github.com/ringrpc/ringrpc/registry"
	"github.com/ringrpc/ringrpc/rpc"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "provider:", err)
		os.Exit(1)
	}
}

func run() error {
	name := flag.String("name", "", "node name, unique in the cluster (default: host name and a random suffix)")
	rpcAddr := flag.String("rpc", "127.0.0.1:0", "address to serve RPC on")
	gossip := flag.String("gossip", "127.0.0.1:0", "address for gossip (UDP and TCP)")
	seeds := flag.String("seed", "", "comma-separated gossip addresses of cluster members; empty starts a cluster")
	preset := registry.Fast
	flag.TextVar(&preset, "preset", registry.Fast, "failure detection: fast, local, lan or wan")
	debugAddr := flag.String("debug", "", "address to serve the debug page /debug/ringrpc on; it shows the cluster, so keep it internal (default: none)")
	flag.Parse()

	log := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ln, err := net.Listen("tcp", *rpcAddr)
	if err != nil {
		return err
	}
	server := rpc.NewServer(rpc.ServerOptions{Logger: log})
	svc := &hello.Service{Name: *name, Log: log}
	if err := hello.RegisterHelloServer(server, svc); err != nil {
		return err
	}
	if err := hello.RegisterWorldServer(server, svc); err != nil {
		return err
	}
	go server.Serve(ln)

	host, port, err := splitHostPort(*gossip)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	reg, err := registry.Join(ctx, registry.Options{
		NodeName: *name, BindAddr: host, BindPort: port, Seeds: splitList(*seeds),
		Preset: preset, Server: server, RPCAddr: ln.Addr().String(), Logger: log,
	})
	if err != nil {
		server.Close()
		return err
	}
	svc.Name = reg.Name()
	if *debugAddr != "" {
		stopDebug, err := serveDebug(*debugAddr, reg.DebugHandler())
		if err != nil {
			reg.Close()
			server.Close()
			return err
		}
		defer stopDebug()
	}
	fmt.Printf("READY name=%s rpc=%s gossip=%s\n", reg.Name(), ln.Addr(), reg.GossipAddr())

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	<-stop
	ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := reg.Shutdown(ctx); err != nil {
		return err
	}
	fmt.Printf("LEFT name=%s\n", reg.Name())
	return nil
}

// serveDebug serves the debug page at addr and prints its URL.
func serveDebug(addr string, h http.Handler) (stop func() error, err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("-debug %q: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/debug/ringrpc", h)
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go hs.Serve(ln)
	fmt.Printf("DEBUG page=http://%s/debug/ringrpc\n", ln.Addr())
	return hs.Close, nil
}

func splitHostPort(addr string) (string, int, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("-gossip %q: %w", addr, err)
	}
	n, err := strconv.Atoi(port)
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
