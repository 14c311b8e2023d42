package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"time"

	"github.com/ringrpc/ringrpc/bench/internal/load"
	"github.com/ringrpc/ringrpc/bench/internal/peers"
)

// cellResult is a row as a cell process prints it.
type cellResult struct {
	Rate   float64       `json:"rate"`
	P50    time.Duration `json:"p50"`
	P99    time.Duration `json:"p99"`
	Allocs float64       `json:"allocs"`
	CPU    time.Duration `json:"cpu"`
	Err    string        `json:"err,omitempty"`
}

// runCell measures one cell of o.peer, with its server in a child process, and
// prints the result as one line of JSON.
func runCell(o options) error {
	p, err := peers.Lookup(o.peer)
	if err != nil {
		return err
	}
	ws, err := peers.SelectWorkloads(o.payloads)
	if err != nil || len(ws) != 1 {
		return fmt.Errorf("a cell measures one payload, got %q", o.payloads)
	}
	n, err := strconv.Atoi(o.callers)
	if err != nil {
		return fmt.Errorf("a cell measures one number of callers, got %q", o.callers)
	}
	if p.Dial == nil {
		return fmt.Errorf("%s is not linked into this build: build it with -tags kitex", p.Name)
	}
	servers, stop, err := startServers([]peers.Peer{p})
	defer stop()
	if err != nil {
		return err
	}
	r := measure(p, servers[0], ws[0], load.Config{Callers: n, Warmup: o.warmup, Duration: o.duration})
	out := cellResult{Rate: r.rate, P50: r.p50, P99: r.p99, Allocs: r.allocs, CPU: r.cpu}
	if r.err != nil {
		out.Err = r.err.Error()
	}
	return json.NewEncoder(os.Stdout).Encode(out)
}

// measureApart measures a cell of p, a peer linked only into the build o.apart, by
// running that build as a cell process.
func measureApart(o options, p peers.Peer, w peers.Workload, cfg load.Config) row {
	r := row{peer: p.Name, payload: w.Name, callers: cfg.Callers}
	if o.apart == "" {
		r.err = errors.New("measured by the build with -tags kitex: give it as -apart (make bench-peers builds it)")
		return r
	}
	cmd := exec.Command(o.apart, "-role=cell", "-peer="+p.Name, "-payloads="+w.Name,
		"-callers="+strconv.Itoa(cfg.Callers), "-warmup="+cfg.Warmup.String(), "-duration="+cfg.Duration.String())
	cmd.Stderr = os.Stderr
	b, err := cmd.Output()
	if err != nil {
		r.err = fmt.Errorf("the cell process %s: %w", o.apart, err)
		return r
	}
	var res cellResult
	if err := json.Unmarshal(b, &res); err != nil {
		r.err = fmt.Errorf("the cell process %s printed %q: %w", o.apart, b, err)
		return r
	}
	r.rate, r.p50, r.p99, r.allocs, r.cpu = res.Rate, res.P50, res.P99, res.Allocs, res.CPU
	if res.Err != "" {
		r.err = errors.New(res.Err)
	}
	return r
}
