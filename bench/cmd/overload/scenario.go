package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ringrpc/ringrpc/bench/internal/greeter"
	"github.com/ringrpc/ringrpc/bench/internal/load"
	"github.com/ringrpc/ringrpc/rpc"
	"github.com/ringrpc/ringrpc/transport"
)

const callers = 10

// result is what one scenario measured.
type result struct {
	kind            string
	peers, conns    int
	baseRSS, rss    int64
	goroutines      int64
	base, loaded    stats
	measure, settle time.Duration
	logged          string // what the provider logged, counted by message
	// hostileRate is the responses per second the hostile connections read while the
	// good client was measured: a reading flood's share of the provider.
	hostileRate float64
}

// stats is the good client's record over one measurement.
type stats struct {
	calls, errors int64
	p50, p99      time.Duration
	firstErr      error
}

func (r result) line() string {
	return fmt.Sprintf("%-10s %d peers: provider RSS %d MiB (idle %d MiB), %d goroutines; good client (%d connections) %d calls, %d errors, p99 %v (alone %v, %.1fx)",
		r.kind, r.peers, r.rss>>20, r.baseRSS>>20, r.goroutines, r.conns, r.loaded.calls, r.loaded.errors, r.loaded.p99, r.base.p99, r.ratio())
}

func (r result) ratio() float64 { return float64(r.loaded.p99) / float64(max(r.base.p99, 1)) }

// goodRate is the good client's calls per second under load.
func (r result) goodRate() float64 { return float64(r.loaded.calls) / r.measure.Seconds() }

// share is the good client's calls per second against one hostile connection's: 1
// is what turns give each connection when all have requests queued.
func (r result) share() float64 {
	return r.goodRate() / (r.hostileRate / float64(r.peers))
}

// providerGodebugEnv is GODEBUG for the provider alone, to see its runtime apart from
// the others': OVERLOAD_PROVIDER_GODEBUG=schedtrace=500 make bench-overload.
const providerGodebugEnv = "OVERLOAD_PROVIDER_GODEBUG"

// child is a process of this program in another role.
type child struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Reader
}

// start runs this program in the role args give, on the CPUs cpus lists (taskset's
// list, such as "0" or "0-1"), or on any when cpus is empty.
func start(cpus string, args ...string) (*child, error) {
	cmd := exec.Command(os.Args[0])
	if cpus != "" {
		cmd = exec.Command("taskset", "-c", cpus, os.Args[0])
	}
	cmd.Env = append(os.Environ(), childEnv+"="+strings.Join(args, " "))
	if d := os.Getenv(providerGodebugEnv); d != "" && args[1] == "provider" {
		cmd.Env = append(cmd.Env, "GODEBUG="+d)
	}
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return &child{cmd: cmd, stdin: stdin, out: bufio.NewReader(stdout)}, nil
}

func (c *child) line() (string, error) {
	s, err := c.out.ReadString('\n')
	return strings.TrimSpace(s), err
}

// ask sends the child an empty line and returns the line it answers.
func (c *child) ask() (string, error) {
	if _, err := fmt.Fprintln(c.stdin); err != nil {
		return "", err
	}
	return c.line()
}

// answered asks the hostile process how many responses its connections have read.
func (c *child) answered() (int64, error) {
	s, err := c.ask()
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(s, 10, 64)
}

func (c *child) stop() error {
	c.stdin.Close()
	return c.cmd.Wait()
}

// peaks asks the provider for its peak RSS and goroutines, and what it logged.
func (c *child) peaks() (rss, goroutines int64, logged string, err error) {
	s, err := c.ask()
	if err != nil {
		return 0, 0, "", err
	}
	f := strings.SplitN(s, " ", 3)
	rss, _ = strconv.ParseInt(f[0], 10, 64)
	goroutines, _ = strconv.ParseInt(f[1], 10, 64)
	if len(f) == 3 {
		logged = f[2]
	}
	return rss, goroutines, logged, nil
}

func scenario(kind string, o options) (result, error) {
	r := result{kind: kind, peers: o.peers, conns: max(o.conns, 1), measure: o.measure, settle: o.settle}
	p, err := start(o.cpus["provider"], "-role", "provider", "-provider", o.provider, "-workers", strconv.Itoa(o.workers))
	if err != nil {
		return r, err
	}
	defer p.stop()
	addr, err := p.line()
	if err != nil {
		return r, fmt.Errorf("starting the provider: %w", err)
	}
	c, err := rpc.NewClient(rpc.ClientOptions{
		Resolver:  rpc.StaticAddress(addr),
		Transport: transport.ClientOptions{PoolSize: o.conns},
	})
	if err != nil {
		return r, err
	}
	defer c.Close()
	g := greeter.NewGreeterClient(c)
	r.base = measure(g, o.measure)
	if r.baseRSS, _, _, err = p.peaks(); err != nil {
		return r, err
	}
	h, err := start(o.cpus["hostile"], "-role", "hostile", "-kind", kind, "-addr", addr, "-peers", strconv.Itoa(o.peers))
	if err != nil {
		return r, err
	}
	defer h.stop()
	time.Sleep(o.settle) // the peers' burst: what the good client meets is after it
	before, err := h.answered()
	if err != nil {
		return r, err
	}
	start := time.Now()
	r.loaded = measure(g, o.measure)
	after, err := h.answered()
	if err != nil {
		return r, err
	}
	r.hostileRate = float64(after-before) / time.Since(start).Seconds()
	r.rss, r.goroutines, r.logged, err = p.peaks()
	return r, err
}

// measure calls SayHello from callers goroutines for d, each call with a 1 s deadline.
func measure(g greeter.Greeter, d time.Duration) stats {
	var mu sync.Mutex
	var all load.Histogram
	var st stats
	var wg sync.WaitGroup
	end := time.Now().Add(d)
	for range callers {
		wg.Go(func() {
			var h load.Histogram
			var calls, errs int64
			var first error
			for time.Now().Before(end) {
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				t := time.Now()
				_, err := g.SayHello(ctx, greeter.HelloA, greeter.HelloB)
				h.Record(time.Since(t))
				cancel()
				calls++
				if err != nil {
					errs++
					if first == nil {
						first = err
					}
				}
			}
			mu.Lock()
			all.Merge(&h)
			st.calls += calls
			st.errors += errs
			if st.firstErr == nil {
				st.firstErr = first
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	st.p50, st.p99 = all.Quantile(0.5), all.Quantile(0.99)
	return st
}

// report prints a table of the results.
func report(w io.Writer, rs []result) {
	fmt.Fprintln(w, "| scenario | peers | provider peak RSS | idle RSS | peak goroutines | good client's connections | good calls | errors | p50 | p99 | p99 alone | p99 ratio | peers' answers/s | good calls/s | good share |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
	for _, r := range rs {
		share := "-"
		if r.hostileRate > 0 {
			share = fmt.Sprintf("%.1f", r.share())
		}
		fmt.Fprintf(w, "| %s | %d | %d MiB | %d MiB | %d | %d | %d | %d | %v | %v | %v | %.1fx | %.0f | %.0f | %s |\n",
			r.kind, r.peers, r.rss>>20, r.baseRSS>>20, r.goroutines, r.conns, r.loaded.calls, r.loaded.errors,
			r.loaded.p50.Round(time.Microsecond), r.loaded.p99.Round(time.Microsecond), r.base.p99.Round(time.Microsecond), r.ratio(),
			r.hostileRate, r.goodRate(), share)
	}
	fmt.Fprintln(w, "\ngood share: the good client's calls/s against one hostile connection's (reading peers only); 1 is what turns give each connection")
	for _, r := range rs {
		if r.logged != "" {
			fmt.Fprintf(w, "\n%s: the provider logged %s\n", r.kind, r.logged)
		}
		if r.loaded.firstErr != nil {
			fmt.Fprintf(w, "\n%s: the good client's first error: %v\n", r.kind, r.loaded.firstErr)
		}
	}
}

// parseCPUs reads -cpus: role=list pairs, comma-separated, where a list is taskset's
// and joins its CPUs with '+' (provider=0,hostile=1+2).
func parseCPUs(s string) (map[string]string, error) {
	m := map[string]string{}
	if s == "" {
		return m, nil
	}
	for _, pair := range strings.Split(s, ",") {
		role, list, ok := strings.Cut(pair, "=")
		if role != "provider" && role != "hostile" || !ok || list == "" || strings.Trim(list, "0123456789-+") != "" {
			return nil, fmt.Errorf("-cpus %q: want role=cpus pairs such as provider=0,hostile=1, where role is provider or hostile and cpus are numbers joined by + or -", s)
		}
		m[role] = strings.ReplaceAll(list, "+", ",")
	}
	return m, nil
}
