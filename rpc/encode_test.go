package rpc

import (
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
)

// checkFloat compares appendFloat with strconv's formatting for f as a float64 and,
// when it is one, as a float32.
func checkFloat(t *testing.T, f float64) {
	t.Helper()
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return
	}
	if got, want := appendFloat(nil, f, 64), appendFloatStrconv(nil, f, 64); string(got) != string(want) {
		t.Fatalf("float64 %v (%#x): wrote %s, strconv %s", f, math.Float64bits(f), got, want)
	}
	f32 := float32(f)
	if math.IsInf(float64(f32), 0) {
		return
	}
	if got, want := appendFloat(nil, float64(f32), 32), appendFloatStrconv(nil, float64(f32), 32); string(got) != string(want) {
		t.Fatalf("float32 %v (%#x): wrote %s, strconv %s", f32, math.Float32bits(f32), got, want)
	}
}

// checkDecimal checks the floats nearest m / 10^k, and their neighbours, in both sizes.
func checkDecimal(t *testing.T, m uint64, k int) {
	t.Helper()
	s := strconv.FormatUint(m, 10) + "e-" + strconv.Itoa(k)
	f, _ := strconv.ParseFloat(s, 64)
	f32, _ := strconv.ParseFloat(s, 32)
	for _, x := range []float64{f, f32} {
		checkFloat(t, x)
		checkFloat(t, -x)
		checkFloat(t, math.Nextafter(x, 0))
		checkFloat(t, math.Nextafter(x, math.Inf(1)))
		checkFloat(t, float64(math.Nextafter32(float32(x), 0)))
		checkFloat(t, float64(math.Nextafter32(float32(x), float32(math.Inf(1)))))
	}
}

// The short decimals written without strconv are the ones strconv writes: at the
// edges of the range they are tried in, for powers of two and ten, for decimals of
// every length and scale, and for random bits.
func TestAppendFloatIsStrconvs(t *testing.T) {
	for _, f := range []float64{0, math.Copysign(0, -1), 1e-6, 1e-7, 9.99999e-7, 1 << 50, 1<<50 - 1, 1 << 21, 1<<21 - 1,
		1<<53 + 1, 1e21, 1e20, 0.1, 0.2, 0.3, 1.0 / 3, 2.0 / 3, 9876.54321, -1234567.89, 4.75, 5e-324, math.MaxFloat64,
		math.MaxFloat32, math.SmallestNonzeroFloat32, 123456789012345, 0.000123456789012345} {
		checkFloat(t, f)
		checkFloat(t, math.Nextafter(f, 0))
		checkFloat(t, math.Nextafter(f, math.Inf(1)))
	}
	for e := -30; e <= 60; e++ {
		checkFloat(t, math.Ldexp(1, e))
		checkFloat(t, math.Pow(10, float64(e)))
		checkDecimal(t, 1, e+30)
	}
	for _, c := range []struct {
		f    float64
		bits int
	}{{9876.54321, 64}, {-1234567.89, 64}, {4.75, 32}, {0.1, 64}, {0.1, 32}, {1e-6, 64}, {123456789012345, 64}, {1, 64}} {
		if _, ok := appendShortFloat(nil, c.f, c.bits); !ok {
			t.Errorf("%v as a float%d was left to strconv", c.f, c.bits)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 200000 {
		digits := 1 + rng.IntN(19)
		m := rng.Uint64N(uint64(math.Pow10(digits)))
		checkDecimal(t, m, rng.IntN(digits+8))
		checkFloat(t, math.Float64frombits(rng.Uint64()))
		checkFloat(t, float64(math.Float32frombits(rng.Uint32())))
	}
}

// FuzzAppendFloat checks appendFloat against strconv's formatting for random floats
// and for the floats nearest random short decimals.
func FuzzAppendFloat(f *testing.F) {
	f.Add(9876.54321, uint64(475), uint8(2))
	f.Add(1e-7, uint64(123456789012345), uint8(20))
	f.Add(-1234567.89, uint64(1), uint8(6))
	f.Fuzz(func(t *testing.T, x float64, m uint64, k uint8) {
		checkFloat(t, x)
		checkDecimal(t, m, int(k%40))
	})
}
