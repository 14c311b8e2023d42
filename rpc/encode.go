package rpc

import (
	"fmt"
	"math"
	"strconv"
	"unsafe"

	json "github.com/goccy/go-json"
)

// Signed, Unsigned and Float are the number types the typed codecs handle.
type (
	Signed interface {
		~int | ~int8 | ~int16 | ~int32 | ~int64
	}
	Unsigned interface {
		~uint | ~uint8 | ~uint16 | ~uint32 | ~uint64 | ~uintptr
	}
	Float interface{ ~float32 | ~float64 }
)

// Encoder writes the JSON of a call's arguments (always an array) or of a handler's
// results (the bare value for one result, an array for several) straight into the
// frame's buffer. Generated code calls the typed methods for basic kinds, [Encoder.JSON]
// for the types it has codecs for, and Value for the rest. The bytes are json.Marshal's
// (see [JSONWriter] for strings). A value that cannot be encoded, a panic in its
// MarshalJSON included, is written as null and the first such error fails the call.
type Encoder struct {
	w        JSONWriter
	start    int // where this encoder's JSON begins in the buffer
	n        int
	array    bool
	firstEnd int    // end of the first value, for the default route key
	rawFirst []byte // the first value of arguments set whole (raw), compacted
	err      error
	result   bool        // encoding results, not arguments
	m        *MethodDesc // for messages; may be nil
	closed   bool        // finish closed the array
}

func (e *Encoder) reset(buf []byte, array bool) {
	*e = Encoder{} // cleared in place: cheaper than copying a literal in
	e.w.buf, e.start, e.array = buf, len(buf), array
}

// sep ends the value before and starts the next.
func (e *Encoder) sep() {
	e.settle()
	if e.array {
		if e.n == 0 {
			e.w.buf = append(e.w.buf, '[')
		} else {
			e.w.buf = append(e.w.buf, ',')
		}
	}
	e.n++
}

// settle notes where the first value ends and takes the writer's error as the
// encoder's, naming the value it came from.
func (e *Encoder) settle() {
	if e.n == 1 && e.firstEnd == 0 {
		e.firstEnd = len(e.w.buf)
	}
	if e.w.err != nil {
		if e.err == nil {
			e.err = fmt.Errorf("%s: %w", e.label(), e.w.err)
		}
		e.w.err = nil
	}
}

// JSON starts the next value and returns the writer that generated codecs write it
// with.
func (e *Encoder) JSON() *JSONWriter {
	e.sep()
	return &e.w
}

// String writes s as a JSON string.
func (e *Encoder) String(s string) { e.JSON().String(s) }

// Bool writes true or false.
func (e *Encoder) Bool(b bool) { e.JSON().Bool(b) }

// Bytes writes b as base64 text, or null for a nil slice, as encoding/json does.
func (e *Encoder) Bytes(b []byte) { e.JSON().Bytes(b) }

// describe makes the encoder's errors name m's arguments, or its results.
func (e *Encoder) describe(m *MethodDesc, result bool) {
	e.m, e.result = m, result
}

// Value writes v with github.com/goccy/go-json. go-json's NoEscape variants are not
// used: they hide the pointer from the garbage collector and the stack mover, and read
// freed memory when the caller's stack grows during encoding. A panic while encoding v
// is the encoder's error, as any other failure to encode it.
func (e *Encoder) Value(v any) { e.JSON().Value(v) }

// label names the value being written: "argument 2 (b)", "result 1", or "value 1"
// when the encoder was not told what it encodes.
func (e *Encoder) label() string {
	if e.m == nil && !e.result {
		return fmt.Sprintf("value %d", e.n)
	}
	return argumentLabel(e.n, e.m, e.result)
}

// marshal is json.Marshal with a panic, in go-json or in a MarshalJSON method of v,
// returned as an error: the value is the caller's, and a bad one must not end the
// process.
func marshal(v any) (b []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			b, err = nil, panicError("JSON encoding of %T panicked (in its MarshalJSON or in go-json)", v, r)
		}
	}()
	return json.Marshal(v)
}

// panicError describes a recovered panic; a panic with an error keeps it for errors.As.
func panicError(format string, v, r any) error {
	if err, ok := r.(error); ok {
		return fmt.Errorf(format+": %w", v, err)
	}
	return fmt.Errorf(format+": %v", v, r)
}

// EncodeInt writes a signed integer.
func EncodeInt[T Signed](e *Encoder, v T) { e.JSON().Int(int64(v)) }

// EncodeUint writes an unsigned integer.
func EncodeUint[T Unsigned](e *Encoder, v T) { e.JSON().Uint(uint64(v)) }

// EncodeFloat writes a float as encoding/json does; NaN and infinities fail.
func EncodeFloat[T Float](e *Encoder, v T) {
	bits := 64
	if unsafe.Sizeof(v) == 4 {
		bits = 32
	}
	e.JSON().Float(float64(v), bits)
}

// appendFloat writes f as encoding/json does; f is finite.
func appendFloat(b []byte, f float64, bits int) []byte {
	if out, ok := appendShortFloat(b, f, bits); ok {
		return out
	}
	return appendFloatStrconv(b, f, bits)
}

// appendShortFloat writes f, a float of bits, when it has a short decimal form that
// encoding/json writes without an exponent, and reports whether it did. That form is
// m / 10^k for the smallest k that gives one: m is then the shortest decimal that
// reads back as f, as strconv writes it. The scaled values stay below 2^50 (2^21 for
// float32), so that at each k at most one m reads back as f, the nearest integer to
// the scaled f is that m, and the check that it reads back is exact (Clinger's fast
// path, as in exactFloat).
func appendShortFloat(b []byte, f float64, bits int) ([]byte, bool) {
	abs := math.Abs(f)
	limit, maxK := float64(1<<50), 15
	if bits == 32 {
		limit, maxK = 1<<21, 10
	}
	if !(abs >= 1e-6 && abs < limit) { // encoding/json writes smaller ones with an exponent
		return b, false
	}
	for k := 0; k <= maxK; k++ {
		p := abs * pow10[k]
		if p >= limit {
			break
		}
		m := math.Round(p)
		if d := p - m; d > 0.25 || d < -0.25 { // m is not within a scaled half ulp of f
			continue
		}
		if bits == 32 && float32(m)/float32(pow10[k]) != float32(abs) ||
			bits == 64 && m/pow10[k] != abs {
			continue
		}
		if f < 0 {
			b = append(b, '-')
		}
		return appendDecimal(b, uint64(m), k), true
	}
	return b, false
}

// appendDecimal writes m / 10^k in decimal, without an exponent.
func appendDecimal(b []byte, m uint64, k int) []byte {
	var tmp [24]byte
	d := appendUint(tmp[:0], m)
	switch n := len(d); {
	case k == 0:
		return append(b, d...)
	case n > k:
		b = append(b, d[:n-k]...)
		b = append(b, '.')
		return append(b, d[n-k:]...)
	default:
		b = append(b, '0', '.')
		for range k - n {
			b = append(b, '0')
		}
		return append(b, d...)
	}
}

// appendFloatStrconv writes f as encoding/json does, with strconv; f is finite.
func appendFloatStrconv(b []byte, f float64, bits int) []byte {
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (bits == 64 && (abs < 1e-6 || abs >= 1e21) || bits == 32 && (float32(abs) < 1e-6 || float32(abs) >= 1e21)) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, bits)
	if format == 'e' {
		// clean up e-09 to e-9, as encoding/json does
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

// finish closes the array and returns the JSON, or the first encoding error.
func (e *Encoder) finish() ([]byte, error) {
	e.settle()
	if e.array && !e.closed {
		e.closed = true
		if e.n == 0 {
			e.w.buf = append(e.w.buf, '[')
		}
		e.w.buf = append(e.w.buf, ']')
	}
	return e.w.buf, e.err
}

// closedCopy returns the JSON written so far as finish would return it, leaving the
// encoder as it is: a copy when the array is still open.
func (e *Encoder) closedCopy() []byte {
	b := e.w.buf[e.start:]
	if !e.array || e.closed {
		return b
	}
	if e.n == 0 {
		return []byte("[]")
	}
	return append(b[:len(b):len(b)], ']')
}

// first returns the JSON of the first value written, if any.
func (e *Encoder) first() []byte {
	if e.n == 0 {
		return nil
	}
	if e.rawFirst != nil {
		return e.rawFirst
	}
	end := e.firstEnd
	if end == 0 {
		end = len(e.w.buf) // the first value is the one being written
	}
	from := e.start
	if e.array {
		from++
	}
	return e.w.buf[from:end]
}
