package rpc

import (
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"
)

// runnerIdle is how long a runner goroutine waits for more work before it exits.
const runnerIdle = 10 * time.Second

// runner runs functions on goroutines it keeps for reuse: a function goes to a
// goroutine that waits for work when there is one, else to a new goroutine, so that
// under steady load no goroutine is started per call. A goroutine with nothing to do
// for runnerIdle exits; close stops them all and waits.
type runner struct {
	log  *slog.Logger // for panics of what it runs
	work chan func()
	quit chan struct{}

	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
}

func newRunner(log *slog.Logger) *runner {
	return &runner{log: log, work: make(chan func()), quit: make(chan struct{})}
}

// run starts f on a runner goroutine, or reports false once the runner is closed.
func (r *runner) run(f func()) bool {
	select {
	case r.work <- f:
		return true
	default:
	}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return false
	}
	r.wg.Add(1)
	r.mu.Unlock()
	go r.loop(f)
	return true
}

// runOrCall runs f on a runner goroutine, or in this one once the runner is closed.
func (r *runner) runOrCall(f func()) {
	if !r.run(f) {
		f()
	}
}

func (r *runner) loop(f func()) {
	defer r.wg.Done()
	idle := time.NewTimer(runnerIdle)
	defer idle.Stop()
	for {
		r.call(f)
		idle.Reset(runnerIdle)
		select {
		case f = <-r.work:
		case <-idle.C:
			return
		case <-r.quit:
			return
		}
	}
}

// call runs f; a panic in it is logged, and the goroutine goes on.
func (r *runner) call(f func()) {
	defer func() {
		if p := recover(); p != nil {
			r.log.Error("rpc: a panic in an async call's interceptor, resolver or callback", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
		}
	}()
	f()
}

// close stops the idle goroutines and waits for the busy ones to finish.
func (r *runner) close() {
	r.mu.Lock()
	if !r.closed {
		r.closed = true
		close(r.quit)
	}
	r.mu.Unlock()
	r.wg.Wait()
}
