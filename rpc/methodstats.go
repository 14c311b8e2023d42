package rpc

import (
	"math"
	"math/bits"
	"sync/atomic"
	"time"

	"github.com/ringrpc/ringrpc/transport"
)

// A method's latency histogram has fixed buckets: latencies are counted in units of
// 1.024 µs, exactly below 4 units, then in four buckets per power of two, so that a
// bucket's bounds are within 25% of each other. The last bucket takes everything
// from about 60 s up.
const (
	latencyShift   = 10 // ns >> latencyShift: the unit
	latencyBuckets = 4 * 25
)

// methodStats counts the calls of one method on a server: one atomic add per call,
// two for a failed one, no lock and no allocation. It lives in the method, made when
// the service registers. A call is counted in its latency bucket, so that the buckets
// add up to the calls.
type methodStats struct {
	latency [latencyBuckets]atomic.Uint64
	untimed atomic.Uint64              // calls without an arrival time: in no bucket
	codes   [maxCode + 2]atomic.Uint64 // by Code; the last counts codes beyond maxCode
}

// record counts a call that arrived at start and ended with err.
func (st *methodStats) record(start time.Time, err error) {
	code := CodeOK
	if err != nil {
		code = CodeOf(err)
	}
	st.recordCode(start, code)
}

// recordCode counts a call that arrived at start and ended with code.
func (st *methodStats) recordCode(start time.Time, code Code) {
	if code != CodeOK {
		st.codes[min(code, maxCode+1)].Add(1)
	}
	if start.IsZero() {
		st.untimed.Add(1)
		return
	}
	st.latency[latencyBucket(time.Since(start))].Add(1)
}

// recordRefused counts a call answered without running: resp says why.
func (st *methodStats) recordRefused(req, resp *transport.Command) {
	st.recordCode(req.ReceivedAt(), fromWire(resp.Code))
}

// latencyBucket returns the bucket of d.
func latencyBucket(d time.Duration) int {
	v := uint64(max(d, 0)) >> latencyShift
	if v < 4 {
		return int(v)
	}
	e := bits.Len64(v) - 3 // v>>e is in [4, 8)
	return min(4*e+int(v>>e), latencyBuckets-1)
}

// bucketBounds returns the smallest and the first excluded latency of bucket i.
func bucketBounds(i int) (lo, hi time.Duration) {
	if i < 4 {
		return time.Duration(i) << latencyShift, time.Duration(i+1) << latencyShift
	}
	e, m := i/4-1, i%4+4
	return time.Duration(m) << (e + latencyShift), time.Duration(m+1) << (e + latencyShift)
}

// MethodStats is what a server counted for one method since it started.
type MethodStats struct {
	Service string `json:"service"`
	Method  string `json:"method"`
	// Calls counts the calls that ended: answered, failed or refused unrun.
	Calls uint64 `json:"calls"`
	// Errors counts the calls that ended with an error, whatever its code.
	Errors uint64 `json:"errors"`
	// Codes counts the errors by code name (Code.String).
	Codes map[string]uint64 `json:"codes,omitempty"`
	// P50, P90 and P99 are latency percentiles, from the request's arrival (time in
	// the queue included) to the handler's return, within 12.5%; zero without calls.
	P50 time.Duration `json:"p50"`
	P90 time.Duration `json:"p90"`
	P99 time.Duration `json:"p99"`
	// Since is when the server began counting: at the first MethodStats or
	// DebugHandler, not at its start.
	Since time.Time `json:"since"`
}

// ErrorRate is the share of calls that ended with an error, from 0 to 1.
func (m MethodStats) ErrorRate() float64 {
	if m.Calls == 0 {
		return 0
	}
	return float64(m.Errors) / float64(m.Calls)
}

// snapshot reads the counters; a call ending meanwhile may be half counted.
func (st *methodStats) snapshot(service, method string) MethodStats {
	out := MethodStats{Service: service, Method: method, Calls: st.untimed.Load()}
	for c := range st.codes {
		if n := st.codes[c].Load(); n > 0 {
			if out.Codes == nil {
				out.Codes = map[string]uint64{}
			}
			out.Codes[Code(c).String()] += n
			out.Errors += n
		}
	}
	var hist [latencyBuckets]uint64
	var total uint64
	for i := range hist {
		hist[i] = st.latency[i].Load()
		total += hist[i]
	}
	out.Calls += total
	out.P50 = percentile(&hist, total, 0.50)
	out.P90 = percentile(&hist, total, 0.90)
	out.P99 = percentile(&hist, total, 0.99)
	return out
}

// percentile returns the middle of the bucket that holds the q-th latency.
func percentile(hist *[latencyBuckets]uint64, total uint64, q float64) time.Duration {
	if total == 0 {
		return 0
	}
	rank := max(uint64(math.Ceil(q*float64(total))), 1) // nearest rank
	var seen uint64
	for i, n := range hist {
		if seen += n; seen >= rank {
			lo, hi := bucketBounds(i)
			return lo + (hi-lo)/2
		}
	}
	lo, _ := bucketBounds(latencyBuckets - 1)
	return lo
}
