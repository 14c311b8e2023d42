package load

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Config shapes a run.
type Config struct {
	// Callers is the number of goroutines calling in a loop.
	Callers int
	// Warmup is how long they call before measuring starts.
	Warmup time.Duration
	// Duration is how long the measurement lasts.
	Duration time.Duration
	// Grace bounds the wait for calls in flight once the measurement ends; then
	// their context is cancelled. Default 10s.
	Grace time.Duration
	// CPU, when set, returns the CPU time that the processes measured (client and
	// server) have used so far; Result.CPU is what they used during the measurement.
	CPU func() (time.Duration, error)
}

// Result is what a run measured: calls that completed during the measurement.
type Result struct {
	Latency Histogram
	Elapsed time.Duration
	// Mallocs is the number of heap allocations of the whole process during the
	// measurement.
	Mallocs uint64
	// CPU is the CPU time Config.CPU counted during the measurement, or 0 without it.
	CPU time.Duration
}

// CPUPerCall returns the CPU time per completed call, or 0 without Config.CPU.
func (r *Result) CPUPerCall() time.Duration {
	if r.Calls() == 0 {
		return 0
	}
	return r.CPU / time.Duration(r.Calls())
}

// Calls returns the number of calls completed during the measurement.
func (r *Result) Calls() int64 { return r.Latency.Count() }

// Rate returns the calls completed per second.
func (r *Result) Rate() float64 { return float64(r.Calls()) / r.Elapsed.Seconds() }

// AllocsPerCall returns the process's allocations per completed call.
func (r *Result) AllocsPerCall() float64 {
	if r.Calls() == 0 {
		return 0
	}
	return float64(r.Mallocs) / float64(r.Calls())
}

const (
	warming int32 = iota
	measuring
	stopped
)

// run is the shared state of one Run.
type run struct {
	op      func(context.Context) error
	phase   atomic.Int32
	errOnce sync.Once
	err     error
}

// Run calls op from cfg.Callers goroutines, each in a loop, for cfg.Warmup and then
// cfg.Duration, recording the latency of every call that completes during the
// measurement. It stops at the first error and returns it.
func Run(cfg Config, op func(context.Context) error) (*Result, error) {
	if cfg.Callers < 1 || cfg.Duration <= 0 {
		return nil, fmt.Errorf("load: need at least one caller and a positive duration")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := &run{op: op}
	hists := make([]Histogram, cfg.Callers)
	var wg sync.WaitGroup
	for i := range hists {
		wg.Go(func() { r.caller(ctx, &hists[i]) })
	}
	res, err := r.measure(cfg)
	if err != nil {
		r.fail(err)
	}
	if !waitTimeout(&wg, orDefault(cfg.Grace, 10*time.Second)) {
		cancel()
		wg.Wait()
		r.fail(errors.New("load: calls still in flight after the grace period"))
	}
	for i := range hists {
		res.Latency.Merge(&hists[i])
	}
	return res, r.err
}

// measure lets the callers warm up, then measures for cfg.Duration and stops them.
func (r *run) measure(cfg Config) (*Result, error) {
	cpu := cfg.CPU
	if cpu == nil {
		cpu = func() (time.Duration, error) { return 0, nil }
	}
	r.sleep(cfg.Warmup)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	cpuBefore, err := cpu()
	start := time.Now()
	r.phase.CompareAndSwap(warming, measuring)
	r.sleep(cfg.Duration)
	r.phase.Store(stopped)
	elapsed := time.Since(start)
	cpuAfter, err2 := cpu()
	runtime.ReadMemStats(&after)
	res := &Result{Elapsed: elapsed, Mallocs: after.Mallocs - before.Mallocs, CPU: cpuAfter - cpuBefore}
	return res, errors.Join(err, err2)
}

// sleep waits for d, or less when a caller fails.
func (r *run) sleep(d time.Duration) {
	deadline := time.Now().Add(d)
	for r.phase.Load() != stopped {
		left := time.Until(deadline)
		if left <= 0 {
			return
		}
		time.Sleep(min(left, 10*time.Millisecond))
	}
}

// caller calls op until the run stops, recording the calls that end while measuring.
func (r *run) caller(ctx context.Context, h *Histogram) {
	for r.phase.Load() != stopped {
		start := time.Now()
		err := r.op(ctx)
		d := time.Since(start)
		if err != nil {
			r.fail(err)
			return
		}
		if r.phase.Load() == measuring {
			h.Record(d)
		}
	}
}

func (r *run) fail(err error) {
	r.errOnce.Do(func() { r.err = err })
	r.phase.Store(stopped)
}

func waitTimeout(wg *sync.WaitGroup, d time.Duration) bool {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(d):
		return false
	}
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}
