package rpc

import (
	"context"
	"math"
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
