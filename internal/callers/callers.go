// Package callers drives benchmarks with a fixed number of concurrent callers.
package callers

import (
	"sync"
	"testing"
	"time"
)

// Run splits b.N calls among n goroutines, reports allocations and calls per second,
// and stops a goroutine at its first error.
func Run(b *testing.B, n int, call func() error) {
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for g := range n {
		count := b.N / n
		if g < b.N%n {
			count++
		}
		wg.Go(func() {
			for range count {
				if err := call(); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "calls/s")
}
