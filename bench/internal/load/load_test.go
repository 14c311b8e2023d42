package load

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"
)

func TestQuantiles(t *testing.T) {
	var h Histogram
	for i := 1; i <= 10000; i++ {
		h.Record(time.Duration(i) * time.Microsecond)
	}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 5 * time.Millisecond}, {0.99, 9900 * time.Microsecond}, {1, 10 * time.Millisecond}} {
		got := h.Quantile(c.q)
		if math.Abs(float64(got-c.want))/float64(c.want) > 0.02 {
			t.Errorf("quantile %v = %v, want %v within 2%%", c.q, got, c.want)
		}
	}
}

func TestBuckets(t *testing.T) {
	for _, v := range []uint64{0, 1, 63, 64, 65, 127, 128, 1000, 123456789, 1 << 40, math.MaxInt64} {
		mid := bucketValue(bucket(v))
		if bucket(mid) != bucket(v) {
			t.Errorf("value %d: bucket %d, its middle %d is in bucket %d", v, bucket(v), mid, bucket(mid))
		}
		if v > 64 && math.Abs(float64(mid)-float64(v))/float64(v) > 1.0/64 {
			t.Errorf("value %d: middle of its bucket %d is too far", v, mid)
		}
	}
}

func TestMergeCount(t *testing.T) {
	var a, b Histogram
	a.Record(time.Millisecond)
	b.Record(2 * time.Millisecond)
	b.Record(-time.Second)
	b.Record(math.MaxInt64)
	a.Merge(&b)
	if a.Count() != 4 || a.Quantile(0) != 0 || a.Quantile(1) < time.Millisecond {
		t.Errorf("count %d, min %v, max %v", a.Count(), a.Quantile(0), a.Quantile(1))
	}
}

func TestRunStopsAtFirstError(t *testing.T) {
	boom := errors.New("boom")
	start := time.Now()
	_, err := Run(Config{Callers: 8, Warmup: time.Second, Duration: time.Minute}, func(context.Context) error {
		time.Sleep(time.Millisecond)
		return boom
	})
	if !errors.Is(err, boom) || time.Since(start) > 5*time.Second {
		t.Errorf("Run returned %v after %v", err, time.Since(start))
	}
}

func TestRunMeasures(t *testing.T) {
	res, err := Run(Config{Callers: 4, Warmup: 10 * time.Millisecond, Duration: 100 * time.Millisecond}, func(context.Context) error {
		time.Sleep(time.Millisecond)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Calls() < 40 || res.Elapsed < 100*time.Millisecond || res.Latency.Quantile(0.5) < time.Millisecond {
		t.Errorf("%d calls in %v, p50 %v", res.Calls(), res.Elapsed, res.Latency.Quantile(0.5))
	}
}
