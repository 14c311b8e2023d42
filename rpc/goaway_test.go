package rpc

import (
	"context"
	"math"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// A provider shut down gracefully under load fails no call, even one that is not
// idempotent: it tells its callers it is going away, answers GO_AWAY to what was
// already on its way, and closes only once its connections are quiet.
func TestShutdownUnderLoadFailsNoCall(t *testing.T) {
	for round := range 3 {
		s1, _, a1 := startGreeter(t, ServerOptions{})
		_, _, a2 := startGreeter(t, ServerOptions{})
		h, _ := newGreeterClient(t, ClientOptions{Resolver: mustList(t, a1, a2)})
		var ok, target atomic.Int64
		target.Store(math.MaxInt64)
		reached := make(chan struct{}, 1)
		failed := make(chan error, 8)
		ctx, stop := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for ctx.Err() == nil {
					if _, err := h.SayHello(context.Background(), "a", "b"); err != nil {
						failed <- err
						return
					}
					if ok.Add(1) >= target.Load() {
						select {
						case reached <- struct{}{}:
						default:
						}
					}
				}
			}()
		}
		// waitCalls waits for n more successful calls, or the first failure.
		waitCalls := func(n int64, what string) {
			t.Helper()
			target.Store(ok.Load() + n)
			select {
			case <-reached:
			case err := <-failed:
				t.Fatalf("round %d: a call failed %s: %v", round, what, err)
			case <-time.After(10 * time.Second):
				t.Fatalf("round %d: calls stalled %s", round, what)
			}
			target.Store(math.MaxInt64)
			select {
			case <-reached: // a signal that raced the reset
			default:
			}
		}
		waitCalls(500, "before the shutdown")
		if err := s1.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
		waitCalls(500, "after the shutdown")
		stop()
		wg.Wait()
		select {
		case err := <-failed:
			t.Fatalf("round %d: a call failed while a provider shut down: %v", round, err)
		default:
		}
	}
}

// A provider shut down gracefully under a load of oneway calls loses none of them:
// its caller answers the going-away notice after every request it queued before it,
// and the provider closes the connection only once it has read that answer and run
// what came before it.
func TestShutdownUnderOnewayLoadLosesNone(t *testing.T) {
	notify := slices.IndexFunc(greeterDesc.Methods, func(m MethodDesc) bool { return m.Name == "Notify" })
	for round := range 3 {
		s1, g1, a1 := startGreeter(t, ServerOptions{})
		s2, g2, a2 := startGreeter(t, ServerOptions{})
		var ran [2]atomic.Int64
		done := make(chan struct{})
		var counting sync.WaitGroup
		for i, g := range []*greeter{g1, g2} {
			counting.Go(func() {
				for {
					select {
					case <-g.notified:
						ran[i].Add(1)
					case <-done:
						ran[i].Add(int64(len(g.notified)))
						return
					}
				}
			})
		}
		_, c := newGreeterClient(t, ClientOptions{Resolver: mustList(t, a1, a2)})
		var sent atomic.Int64
		ctx, stop := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				for ctx.Err() == nil {
					// A window of calls not yet run keeps the providers' backlog
					// within what they read in a fraction of the second a draining
					// provider waits for a peer that goes on sending.
					for sent.Load()-ran[0].Load()-ran[1].Load() > 400 && ctx.Err() == nil {
						runtime.Gosched()
					}
					call := c.NewCall(&greeterDesc, notify)
					call.Args.String("hi")
					if err := c.InvokeOneway(context.Background(), call); err != nil {
						t.Errorf("round %d: InvokeOneway: %v", round, err)
						return
					}
					sent.Add(1)
				}
			})
		}
		// Both connections carry calls: a oneway call queued on a connection still
		// being dialled is lost if the dial fails, which is not what is tested.
		waitUntil(t, func() bool { return ran[0].Load() > 200 && ran[1].Load() > 200 })
		if err := s1.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
		before := ran[1].Load()
		waitUntil(t, func() bool { return ran[1].Load() > before+500 })
		stop()
		wg.Wait()
		if err := c.Close(); err != nil { // writes what is queued
			t.Fatal(err)
		}
		if err := s2.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
		close(done)
		counting.Wait()
		if lost := sent.Load() - ran[0].Load() - ran[1].Load(); lost != 0 {
			t.Errorf("round %d: %d of %d oneway calls sent never ran", round, lost, sent.Load())
		}
	}
}
