package rpc

import (
	"math"
	"strconv"
	"testing"
)

func TestAppendUintAsStrconv(t *testing.T) {
	var cases []uint64
	for p := uint64(1); p <= 1e19; p *= 10 {
		cases = append(cases, p-1, p, p+1, 2*p-1, 9*p, 9*p+p-1)
	}
	cases = append(cases, 0, 42, 4_000_000_000, 9_007_199_254_740_881, 1_700_000_000_123_456_789,
		math.MaxUint32, math.MaxInt64, math.MaxInt64+1, math.MaxUint64-1, math.MaxUint64)
	for _, u := range cases {
		if got, want := string(appendUint([]byte("x"), u)), "x"+strconv.FormatUint(u, 10); got != want {
			t.Errorf("appendUint(%d) = %q, want %q", u, got, want)
		}
		v := int64(u)
		if got, want := string(appendInt([]byte("x"), v)), "x"+strconv.FormatInt(v, 10); got != want {
			t.Errorf("appendInt(%d) = %q, want %q", v, got, want)
		}
		if got, want := string(appendInt(nil, -v)), strconv.FormatInt(-v, 10); got != want {
			t.Errorf("appendInt(%d) = %q, want %q", -v, got, want)
		}
	}
}

// TestEightDigitsEveryValue checks the lane arithmetic of eightDigits8 for every value
// it takes: each lane's products must stay within the lane.
func TestEightDigitsEveryValue(t *testing.T) {
	step := uint32(1)
	if testing.Short() {
		step = 997
	}
	for v := uint32(0); v < 1e8; v += step {
		d := eightDigits8(v)
		w := v
		for i := 7; i >= 0; i-- {
			if got := byte(d >> (8 * i)); got != byte(w%10) {
				t.Fatalf("eightDigits8(%d): digit %d is %d, want %d", v, i, got, w%10)
			}
			w /= 10
		}
	}
}

func FuzzAppendInt(f *testing.F) {
	for _, v := range []uint64{0, 7, 99_999_999, 100_000_000, 1e16, math.MaxUint64} {
		f.Add(v)
	}
	f.Fuzz(func(t *testing.T, u uint64) {
		if got, want := string(appendUint(nil, u)), strconv.FormatUint(u, 10); got != want {
			t.Fatalf("appendUint(%d) = %q, want %q", u, got, want)
		}
		if got, want := string(appendInt(nil, int64(u))), strconv.FormatInt(int64(u), 10); got != want {
			t.Fatalf("appendInt(%d) = %q, want %q", int64(u), got, want)
		}
	})
}

func BenchmarkAppendUint(b *testing.B) {
	vals := []uint64{42, 4_000_000_000, 9_007_199_254_740_881, 1_767_225_599_987_654_321, math.MaxUint64}
	buf := make([]byte, 0, 32)
	for _, fn := range []struct {
		name string
		f    func([]byte, uint64) []byte
	}{
		{"strconv", func(b []byte, u uint64) []byte { return strconv.AppendUint(b, u, 10) }},
		{"appendUint", appendUint},
	} {
		b.Run(fn.name, func(b *testing.B) {
			for b.Loop() {
				for _, v := range vals {
					buf = fn.f(buf[:0], v)
				}
			}
		})
	}
}
