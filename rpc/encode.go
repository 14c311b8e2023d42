package rpc

import (
	"encoding/base64"
	"fmt"
	"math"
	"strconv"
	"unsafe"

	json "github.com/goccy/go-json"

	"github.com/ringrpc/ringrpc/internal/jsonstr"
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
// frame's buffer. Generated code calls the typed methods for basic kinds and Value for
// everything else. The bytes are encoding/json's, except that String leaves <, > and &
// unescaped (Value escapes them, as encoding/json does). A value that cannot be encoded,
// a panic in its MarshalJSON included, is written as null and the first such error
// fails the call.
type Encoder struct {
	buf      []byte
	start    int // where this encoder's JSON begins in buf
	n        int
	array    bool
	firstEnd int // end of the first value, for the default route key
	err      error
	result   bool        // encoding results, not arguments
	m        *MethodDesc // for messages; may be nil
}

func (e *Encoder) reset(buf []byte, array bool) {
	*e = Encoder{buf: buf, start: len(buf), array: array}
}

func (e *Encoder) sep() {
	if e.array {
		if e.n == 0 {
			e.buf = append(e.buf, '[')
		} else {
			e.buf = append(e.buf, ',')
		}
	}
	e.n++
}

func (e *Encoder) done() {
	if e.n == 1 {
		e.firstEnd = len(e.buf)
	}
}

// String writes s as a JSON string.
func (e *Encoder) String(s string) {
	e.sep()
	e.buf = jsonstr.Append(e.buf, s)
	e.done()
}

// Bool writes true or false.
func (e *Encoder) Bool(b bool) {
	e.sep()
	e.buf = strconv.AppendBool(e.buf, b)
	e.done()
}

// Bytes writes b as base64 text, or null for a nil slice, as encoding/json does.
func (e *Encoder) Bytes(b []byte) {
	e.sep()
	if b == nil {
		e.buf = append(e.buf, "null"...)
	} else {
		e.buf = append(e.buf, '"')
		e.buf = base64.StdEncoding.AppendEncode(e.buf, b)
		e.buf = append(e.buf, '"')
	}
	e.done()
}

// describe makes the encoder's errors name m's arguments, or its results.
func (e *Encoder) describe(m *MethodDesc, result bool) {
	e.m, e.result = m, result
}

// Value writes v with github.com/goccy/go-json. go-json's NoEscape variants are not
// used: they hide the pointer from the garbage collector and the stack mover, and read
// freed memory when the caller's stack grows during encoding. A panic while encoding v
// is the encoder's error, as any other failure to encode it.
func (e *Encoder) Value(v any) {
	e.sep()
	b, err := marshal(v)
	if err != nil {
		e.fail(err)
		e.buf = append(e.buf, "null"...)
	} else {
		e.buf = append(e.buf, b...)
	}
	e.done()
}

func (e *Encoder) fail(err error) {
	if e.err == nil {
		e.err = fmt.Errorf("%s: %w", e.label(), err)
	}
}

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
func EncodeInt[T Signed](e *Encoder, v T) {
	e.sep()
	e.buf = strconv.AppendInt(e.buf, int64(v), 10)
	e.done()
}

// EncodeUint writes an unsigned integer.
func EncodeUint[T Unsigned](e *Encoder, v T) {
	e.sep()
	e.buf = strconv.AppendUint(e.buf, uint64(v), 10)
	e.done()
}

// EncodeFloat writes a float as encoding/json does; NaN and infinities fail.
func EncodeFloat[T Float](e *Encoder, v T) {
	e.sep()
	bits := 64
	if unsafe.Sizeof(v) == 4 {
		bits = 32
	}
	e.buf = appendFloat(e.buf, float64(v), bits, e)
	e.done()
}

func appendFloat(b []byte, f float64, bits int, e *Encoder) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		e.fail(fmt.Errorf("json: unsupported value: %v", f))
		return append(b, "null"...)
	}
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
	if e.array {
		if e.n == 0 {
			e.buf = append(e.buf, '[')
		}
		e.buf = append(e.buf, ']')
	}
	return e.buf, e.err
}

// first returns the JSON of the first value written, if any.
func (e *Encoder) first() []byte {
	if e.n == 0 {
		return nil
	}
	from := e.start
	if e.array {
		from++
	}
	return e.buf[from:e.firstEnd]
}
