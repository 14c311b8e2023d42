package sem

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Many callers share few permits: no more than max hold one at a time, and every
// caller gets one in turn, however the releases interleave.
func TestSemaphoreUnderContention(t *testing.T) {
	for _, max := range []int{1, 3, 16} {
		s := New(max)
		var held, peak atomic.Int64
		var wg sync.WaitGroup
		for range 64 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 50 {
					if err := s.Acquire(context.Background(), time.Minute, nil); err != nil {
						t.Error(err)
						return
					}
					n := held.Add(1)
					for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
					}
					held.Add(-1)
					s.Release(1)
				}
			}()
		}
		wg.Wait()
		if p := peak.Load(); p > int64(max) {
			t.Fatalf("max %d: %d permits held at once", max, p)
		}
		if u := s.used.Load(); u != 0 {
			t.Fatalf("max %d: %d permits still in use", max, u)
		}
	}
}
