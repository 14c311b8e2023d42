// Command streams measures ringrpc's streams against gRPC's, with each server in a
// child process on loopback: messages per second of server streams of small messages,
// from 1 and from 16 concurrent streams on one connection, and the latency of a
// ping-pong over one bidirectional stream. It prints a Markdown table.
//
//	cd bench && go run ./cmd/streams [-messages 1000000] [-rounds 20000]
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ringrpc/ringrpc/bench/internal/load"
	"github.com/ringrpc/ringrpc/bench/internal/peers"
)

type options struct {
	role     string
	peer     string
	messages int
	streams  string
	rounds   int
}

func main() {
	var o options
	flag.StringVar(&o.role, "role", "client", "client: run the benchmark; server: serve -peer for it")
	flag.StringVar(&o.peer, "peer", "", "the peer to serve, with -role=server: ringrpc or gRPC")
	flag.IntVar(&o.messages, "messages", 1000000, "messages per server-stream measurement, split among the streams")
	flag.StringVar(&o.streams, "streams", "1,16", "comma-separated numbers of concurrent server streams")
	flag.IntVar(&o.rounds, "rounds", 20000, "round trips of the ping-pong measurement")
	flag.Parse()
	var err error
	if o.role == "server" {
		err = serveMain(o.peer, os.Stdin, os.Stdout)
	} else {
		err = run(o)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "streams:", err)
		os.Exit(1)
	}
}

// serveMain serves name's Ticker on a loopback port, writes its address, and serves
// until in ends.
func serveMain(name string, in io.Reader, out io.Writer) error {
	p, err := lookup(name)
	if err != nil {
		return err
	}
	return peers.ServeOn(p.serve, in, out)
}

func run(o options) error {
	var counts []int
	for _, s := range strings.Split(o.streams, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			return fmt.Errorf("-streams: %q is not a positive number", s)
		}
		counts = append(counts, n)
	}
	fmt.Println("| stack | measurement | result |")
	fmt.Println("|---|---|---|")
	rates := map[string]map[int]float64{}
	for _, p := range stacks {
		rs, err := measure(p, o, counts)
		if err != nil {
			return fmt.Errorf("%s: %w", p.name, err)
		}
		rates[p.name] = rs
	}
	for _, n := range counts {
		if g := rates["gRPC"][n]; g > 0 {
			fmt.Printf("| ringrpc / gRPC | server stream, %d streams | %.2fx |\n", n, rates["ringrpc"][n]/g)
		}
	}
	return nil
}

// measure serves p in a child process and makes the measurements on one connection.
func measure(p peer, o options, counts []int) (map[int]float64, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, "-role=server", "-peer="+p.name)
	cmd.Stderr = os.Stderr
	srv, err := peers.StartServer(cmd)
	if err != nil {
		return nil, err
	}
	defer srv.Stop()
	c, err := p.dial(srv.Addr)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	ctx := context.Background()
	if err := c.Ticks(ctx, 10000); err != nil { // warm up
		return nil, err
	}
	rates := map[int]float64{}
	for _, n := range counts {
		rate, err := streamRate(ctx, c, n, o.messages)
		if err != nil {
			return nil, err
		}
		rates[n] = rate
		fmt.Printf("| %s | server stream, %d streams | %.0f messages/s |\n", p.name, n, rate)
	}
	var h load.Histogram
	if err := c.PingPong(ctx, o.rounds, &h); err != nil {
		return nil, err
	}
	fmt.Printf("| %s | bidi ping-pong, %d rounds | p50 %v, p99 %v |\n", p.name, o.rounds, h.Quantile(0.5), h.Quantile(0.99))
	return rates, nil
}

// streamRate receives messages ticks over n concurrent server streams and returns
// the messages per second.
func streamRate(ctx context.Context, c client, n, messages int) (float64, error) {
	var wg sync.WaitGroup
	errs := make(chan error, n)
	start := time.Now()
	for range n {
		wg.Go(func() {
			if err := c.Ticks(ctx, messages/n); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(errs)
	for err := range errs {
		return 0, err
	}
	return float64(messages/n*n) / elapsed.Seconds(), nil
}
