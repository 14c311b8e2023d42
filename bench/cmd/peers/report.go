package main

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"strconv"
	"time"

	"github.com/ringrpc/ringrpc/bench/internal/load"
	"github.com/ringrpc/ringrpc/bench/internal/peers"
)

// row is one cell of the table.
type row struct {
	peer, payload string
	callers       int
	rate          float64
	p50, p99      time.Duration
	allocs        float64
	cpu           time.Duration // per call, client and server processes together
	err           error
}

// measure runs one cell on a new client of p's server s.
func measure(p peers.Peer, s *peers.Server, w peers.Workload, cfg load.Config) row {
	r := row{peer: p.Name, payload: w.Name, callers: cfg.Callers}
	c, err := p.Dial(s.Addr)
	if err != nil {
		r.err = err
		return r
	}
	defer c.Close()
	if r.err = w.Call(context.Background(), c); r.err != nil {
		return r
	}
	runtime.GC()
	cfg.CPU = func() (time.Duration, error) {
		self, err := peers.SelfCPU()
		if err != nil {
			return 0, err
		}
		server, err := s.CPU()
		return self + server, err
	}
	res, err := load.Run(cfg, func(ctx context.Context) error { return w.Call(ctx, c) })
	if err != nil {
		r.err = err
		return r
	}
	r.rate, r.allocs, r.cpu = res.Rate(), res.AllocsPerCall(), res.CPUPerCall()
	r.p50, r.p99 = res.Latency.Quantile(0.50), res.Latency.Quantile(0.99)
	return r
}

func printReport(w io.Writer, o options, rows []row) {
	fmt.Fprintln(w, runtimeLine(o))
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| peer | payload | callers | calls/s | p50 | p99 | allocs/call | CPU/call |")
	fmt.Fprintln(w, "|---|---|--:|--:|--:|--:|--:|--:|")
	var failed []row
	for _, r := range rows {
		if r.err != nil {
			failed = append(failed, r)
			fmt.Fprintf(w, "| %s | %s | %d | failed | | | | |\n", r.peer, r.payload, r.callers)
			continue
		}
		fmt.Fprintf(w, "| %s | %s | %d | %s | %s | %s | %.1f | %s |\n",
			r.peer, r.payload, r.callers, thousands(r.rate), latency(r.p50), latency(r.p99), r.allocs, latency(r.cpu))
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "CPU/call: the user and system time of the client's process and the server's, over the calls completed while measuring.")
	printTargets(w, rows)
	if len(failed) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "Failures:")
		fmt.Fprintln(w)
		for _, r := range failed {
			fmt.Fprintf(w, "- %s, %s, %d callers: %v\n", r.peer, r.payload, r.callers, r.err)
		}
	}
}

// printTargets prints the ratios the project targets: hello at 100 callers.
func printTargets(w io.Writer, rows []row) {
	ring, okRing := find(rows, "ringrpc")
	grpc, okGRPC := find(rows, "gRPC+protobuf")
	raw, okRaw := find(rows, "raw TCP")
	if !okRing || !okGRPC && !okRaw {
		return
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Targets, hello at 100 callers:")
	fmt.Fprintln(w)
	if okGRPC {
		fmt.Fprintf(w, "- ringrpc / gRPC calls/s: %.2f\n", ring.rate/grpc.rate)
	}
	if okRaw {
		fmt.Fprintf(w, "- ringrpc / raw calls/s: %.2f\n", ring.rate/raw.rate)
	}
	if okGRPC {
		fmt.Fprintf(w, "- ringrpc p99 / gRPC p99: %.2f\n", float64(ring.p99)/float64(grpc.p99))
	}
}

func find(rows []row, peer string) (row, bool) {
	for _, r := range rows {
		if r.peer == peer && r.payload == "hello" && r.callers == 100 && r.err == nil {
			return r, true
		}
	}
	return row{}, false
}

// thousands formats a rate as a whole number with thousands separators.
func thousands(v float64) string {
	s := strconv.FormatInt(int64(v+0.5), 10)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// latency formats d with three significant digits.
func latency(d time.Duration) string {
	switch {
	case d < time.Microsecond:
		return fmt.Sprintf("%dns", d.Nanoseconds())
	case d < time.Millisecond:
		return sig3(float64(d)/float64(time.Microsecond), "µs")
	case d < time.Second:
		return sig3(float64(d)/float64(time.Millisecond), "ms")
	}
	return sig3(d.Seconds(), "s")
}

func sig3(v float64, unit string) string {
	switch {
	case v < 10:
		return fmt.Sprintf("%.2f%s", v, unit)
	case v < 100:
		return fmt.Sprintf("%.1f%s", v, unit)
	}
	return fmt.Sprintf("%.0f%s", v, unit)
}
