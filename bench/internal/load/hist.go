// Package load drives a call from many goroutines for a fixed time and measures
// throughput, latency and the caller's allocations.
package load

import (
	"math/bits"
	"time"
)

// subBits sets the histogram's precision: 1<<subBits buckets per power of two, an
// error under 1/(1<<subBits) of the value.
const subBits = 6

// Histogram counts durations in log-linear buckets, as an HDR histogram does. The
// zero value is empty and ready; it is not safe for concurrent use.
type Histogram struct {
	counts [(64 - subBits) << subBits]uint32
	total  int64
}

func bucket(v uint64) int {
	if v < 1<<subBits {
		return int(v)
	}
	shift := bits.Len64(v) - subBits - 1
	return (shift+1)<<subBits + int(v>>shift) - 1<<subBits
}

// bucketValue returns the middle of bucket i.
func bucketValue(i int) uint64 {
	if i < 1<<subBits {
		return uint64(i)
	}
	shift := i>>subBits - 1
	low := uint64(i-shift<<subBits) << shift
	return low + (uint64(1)<<shift)/2
}

// Record adds d.
func (h *Histogram) Record(d time.Duration) {
	h.counts[bucket(uint64(max(d, 0)))]++
	h.total++
}

// Count returns the number of durations recorded.
func (h *Histogram) Count() int64 { return h.total }

// Merge adds o's durations to h.
func (h *Histogram) Merge(o *Histogram) {
	for i, n := range o.counts {
		h.counts[i] += n
	}
	h.total += o.total
}

// Quantile returns the duration below which a fraction q of the recorded ones fall,
// or 0 when the histogram is empty.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.total == 0 {
		return 0
	}
	rank := max(int64(q*float64(h.total)+0.5), 1)
	var seen int64
	for i, n := range h.counts {
		seen += int64(n)
		if seen >= rank {
			return time.Duration(bucketValue(i))
		}
	}
	return time.Duration(bucketValue(len(h.counts) - 1))
}
