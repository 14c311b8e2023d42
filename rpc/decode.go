package rpc

import (
	"encoding/base64"
	"fmt"
	"math"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"

	json "github.com/goccy/go-json"
)

// Decoder reads a call's arguments (a JSON array) or its results (the bare value for
// one result, an array for several) into typed variables, one value per method call in
// order. It accepts the bodies encoding/json accepts and reads the same values; its
// error texts are its own. The first error sticks: later reads do nothing, and Finish
// returns it. JSON null leaves the variable unchanged, as encoding/json does.
type Decoder struct {
	data   []byte
	pos    int
	n      int // values started
	array  bool
	err    error
	result bool        // decoding results, not arguments
	m      *MethodDesc // for messages; may be nil
}

func newDecoder(data []byte, array bool) Decoder {
	return Decoder{data: data, array: array}
}

func (d *Decoder) failf(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%s: %s", d.label(), fmt.Sprintf(format, args...))
	}
}

// label names the value being read: "argument 2 (b)" or "result 1".
func (d *Decoder) label() string { return argumentLabel(d.n, d.m, d.result) }

// argumentLabel names value n of m's arguments or results, for errors.
func argumentLabel(n int, m *MethodDesc, result bool) string {
	if result {
		return fmt.Sprintf("result %d", n)
	}
	if m != nil && n >= 1 && n <= len(m.Params) {
		return fmt.Sprintf("argument %d (%s)", n, m.Params[n-1].Name)
	}
	return fmt.Sprintf("argument %d", n)
}

func (d *Decoder) skipSpace() {
	for d.pos < len(d.data) {
		switch d.data[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

// next positions the decoder on the next value and reports whether there is one.
func (d *Decoder) next() bool {
	if d.err != nil {
		return false
	}
	d.n++
	d.skipSpace()
	if !d.array {
		if d.n > 1 {
			d.failf("more values read than the body holds")
			return false
		}
		if d.pos >= len(d.data) {
			d.failf("missing: the body is empty")
			return false
		}
		return true
	}
	want := byte(',')
	if d.n == 1 {
		want = '['
	}
	if d.pos >= len(d.data) {
		d.failf("missing: the JSON array ends early")
		return false
	}
	c := d.data[d.pos]
	if c == ']' {
		d.failf("missing: the JSON array has only %d", d.n-1)
		return false
	}
	if c != want {
		if d.n == 1 {
			d.failf("the body is not a JSON array")
		} else {
			d.failf("want ',' between values, got %q", c)
		}
		return false
	}
	d.pos++
	d.skipSpace()
	if d.n == 1 && d.pos < len(d.data) && d.data[d.pos] == ']' {
		d.failf("missing: the JSON array is empty")
		return false
	}
	return true
}

// null consumes a JSON null and reports whether there was one.
func (d *Decoder) null() bool {
	if len(d.data)-d.pos >= 4 && string(d.data[d.pos:d.pos+4]) == "null" {
		d.pos += 4
		return true
	}
	return false
}

// Finish checks that all values were read and nothing follows them, and returns the
// first error as an *Error: CodeBadArguments for arguments, CodeInternal for results.
func (d *Decoder) Finish() error {
	err := d.finish()
	if err == nil {
		return nil
	}
	name := "the method"
	if d.m != nil {
		name = d.m.Name
	}
	if d.result {
		return Errorf(CodeInternal, "undecodable response of %s: %v", name, err)
	}
	return Errorf(CodeBadArguments, "bad arguments for %s: %v", name, err)
}

func (d *Decoder) finish() error {
	if d.err != nil {
		return d.err
	}
	d.skipSpace()
	if d.array {
		if d.n == 0 {
			if d.pos < len(d.data) && d.data[d.pos] == '[' {
				d.pos++
				d.skipSpace()
			} else {
				return fmt.Errorf("the body is not a JSON array")
			}
		}
		if d.pos >= len(d.data) || d.data[d.pos] != ']' {
			return fmt.Errorf("more values than the %d expected", d.n)
		}
		d.pos++
		d.skipSpace()
	}
	if d.pos != len(d.data) {
		return fmt.Errorf("unexpected data after the last value at offset %d", d.pos)
	}
	return nil
}

// String reads a JSON string.
func (d *Decoder) String(p *string) {
	if !d.next() || d.null() {
		return
	}
	s, ok := d.parseString()
	if ok {
		*p = s
	}
}

func (d *Decoder) parseString() (string, bool) {
	if d.pos >= len(d.data) || d.data[d.pos] != '"' {
		d.failf("want a string, got %s", d.describe())
		return "", false
	}
	start := d.pos + 1
	for i := start; i < len(d.data); i++ {
		switch c := d.data[i]; {
		case c == '"':
			raw := d.data[start:i]
			d.pos = i + 1
			if utf8.Valid(raw) {
				return string(raw), true
			}
			return string([]rune(string(raw))), true // invalid UTF-8 becomes U+FFFD
		case c == '\\':
			return d.parseEscaped(start)
		case c < 0x20:
			d.failf("control character %#x in a string", c)
			return "", false
		}
	}
	d.failf("unterminated string")
	return "", false
}

// parseEscaped decodes a string with escapes, starting after its opening quote.
func (d *Decoder) parseEscaped(start int) (string, bool) {
	out := make([]byte, 0, 32)
	for i := start; i < len(d.data); {
		c := d.data[i]
		switch {
		case c == '"':
			d.pos = i + 1
			return string([]rune(string(out))), true
		case c < 0x20:
			d.failf("control character %#x in a string", c)
			return "", false
		case c != '\\':
			out = append(out, c)
			i++
			continue
		}
		if i+1 >= len(d.data) {
			break
		}
		e := d.data[i+1]
		i += 2
		switch e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, n := d.unicodeEscape(i)
			if n == 0 {
				d.failf("bad \\u escape in a string")
				return "", false
			}
			i += n
			out = utf8.AppendRune(out, r)
		default:
			d.failf("bad escape \\%c in a string", e)
			return "", false
		}
	}
	d.failf("unterminated string")
	return "", false
}

// unicodeEscape reads the hex of a \u escape at i (and its low surrogate) and returns
// the rune and the bytes consumed.
func (d *Decoder) unicodeEscape(i int) (rune, int) {
	r, ok := hex4(d.data, i)
	if !ok {
		return 0, 0
	}
	if utf16.IsSurrogate(r) {
		if lo, ok := hex4(d.data, i+6); ok && i+6 <= len(d.data) && d.data[i+4] == '\\' && d.data[i+5] == 'u' {
			if dec := utf16.DecodeRune(r, lo); dec != utf8.RuneError {
				return dec, 10
			}
		}
		return utf8.RuneError, 4
	}
	return r, 4
}

func hex4(b []byte, i int) (rune, bool) {
	if i+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[i : i+4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// Bool reads true or false.
func (d *Decoder) Bool(p *bool) {
	if !d.next() || d.null() {
		return
	}
	switch {
	case len(d.data)-d.pos >= 4 && string(d.data[d.pos:d.pos+4]) == "true":
		*p = true
		d.pos += 4
	case len(d.data)-d.pos >= 5 && string(d.data[d.pos:d.pos+5]) == "false":
		*p = false
		d.pos += 5
	default:
		d.failf("want a boolean, got %s", d.describe())
	}
}

// Bytes reads base64 text, as encoding/json writes []byte.
func (d *Decoder) Bytes(p *[]byte) {
	if !d.next() {
		return
	}
	if d.null() {
		*p = nil
		return
	}
	s, ok := d.parseString()
	if !ok {
		return
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		d.failf("bad base64: %v", err)
		return
	}
	*p = b
}

// Value reads the next value into p, a pointer, with github.com/goccy/go-json. A
// panic while decoding is the decoder's error, as any other failure to decode.
func (d *Decoder) Value(p any) {
	if !d.next() {
		return
	}
	start := d.pos
	if !d.skipValue() {
		return
	}
	if err := unmarshal(d.data[start:d.pos], p); err != nil {
		d.failf("%v", err)
	}
}

// unmarshal is json.Unmarshal with a panic, in go-json or in an UnmarshalJSON method,
// returned as an error.
func unmarshal(data []byte, p any) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = panicError("JSON decoding into %T panicked (in its UnmarshalJSON or in go-json)", p, r)
		}
	}()
	return json.Unmarshal(data, p)
}

// number returns the next number token.
func (d *Decoder) number() ([]byte, bool) {
	start := d.pos
	for d.pos < len(d.data) {
		c := d.data[d.pos]
		if '0' <= c && c <= '9' || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E' {
			d.pos++
			continue
		}
		break
	}
	if d.pos == start {
		d.failf("want a number, got %s", d.describe())
		return nil, false
	}
	return d.data[start:d.pos], true
}

// DecodeInt reads an integer into p, failing when it does not fit p's type.
func DecodeInt[T Signed](d *Decoder, p *T) {
	if !d.next() || d.null() {
		return
	}
	tok, ok := d.number()
	if !ok {
		return
	}
	v, ok := parseInt(tok)
	if !ok || int64(T(v)) != v {
		d.failf("%s is not an integer of %d bits", tok, 8*sizeOf[T]())
		return
	}
	*p = T(v)
}

// DecodeUint reads an unsigned integer into p, failing when it does not fit.
func DecodeUint[T Unsigned](d *Decoder, p *T) {
	if !d.next() || d.null() {
		return
	}
	tok, ok := d.number()
	if !ok {
		return
	}
	v, ok := parseUint(tok)
	if !ok || uint64(T(v)) != v {
		d.failf("%s is not an unsigned integer of %d bits", tok, 8*sizeOf[T]())
		return
	}
	*p = T(v)
}

// DecodeFloat reads a number into p.
func DecodeFloat[T Float](d *Decoder, p *T) {
	if !d.next() || d.null() {
		return
	}
	tok, ok := d.number()
	if !ok {
		return
	}
	bits := 8 * sizeOf[T]()
	v, err := strconv.ParseFloat(string(tok), bits)
	if err != nil || !validNumber(tok) {
		d.failf("%s is not a float of %d bits", tok, bits)
		return
	}
	*p = T(v)
}

func sizeOf[T any]() int {
	var z T
	return int(sizeofValue(z))
}

func parseUint(b []byte) (uint64, bool) {
	if len(b) == 0 || len(b) > 1 && b[0] == '0' {
		return 0, false
	}
	var v uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		if v > (math.MaxUint64-uint64(c-'0'))/10 {
			return 0, false
		}
		v = v*10 + uint64(c-'0')
	}
	return v, true
}

func parseInt(b []byte) (int64, bool) {
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	u, ok := parseUint(b)
	if !ok {
		return 0, false
	}
	if neg {
		if u > 1<<63 {
			return 0, false
		}
		return -int64(u), true
	}
	if u > math.MaxInt64 {
		return 0, false
	}
	return int64(u), true
}

// validNumber checks JSON's number grammar, which is stricter than ParseFloat's.
func validNumber(b []byte) bool {
	i := 0
	if i < len(b) && b[i] == '-' {
		i++
	}
	digits := func() int {
		n := 0
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
			n++
		}
		return n
	}
	if i < len(b) && b[i] == '0' {
		i++
	} else if digits() == 0 {
		return false
	}
	if i < len(b) && b[i] == '.' {
		i++
		if digits() == 0 {
			return false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	return i == len(b)
}

// skipValue moves past one JSON value, checking only its nesting and strings; the
// value's own decoder checks the rest.
func (d *Decoder) skipValue() bool {
	start, depth := d.pos, 0
	for d.pos < len(d.data) {
		switch d.data[d.pos] {
		case '"':
			end := skipString(d.data, d.pos)
			if end < 0 {
				d.failf("unterminated string")
				return false
			}
			d.pos = end
			if depth == 0 {
				return true
			}
			continue
		case '[', '{':
			depth++
		case ']', '}':
			if depth == 0 {
				return d.endScalar(start)
			}
			if depth--; depth == 0 {
				d.pos++
				return true
			}
		case ',':
			if depth == 0 {
				return d.endScalar(start)
			}
		}
		d.pos++
	}
	if depth != 0 {
		d.failf("unterminated array or object")
		return false
	}
	return d.endScalar(start)
}

func (d *Decoder) endScalar(start int) bool {
	if d.pos == start {
		d.failf("missing value")
		return false
	}
	return true
}

// skipString returns the offset after the string starting at i, or -1.
func skipString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return -1
}

// describe names what is at the decoder's position, for errors.
func (d *Decoder) describe() string {
	if d.pos >= len(d.data) {
		return "the end of the body"
	}
	switch c := d.data[d.pos]; {
	case c == '"':
		return "a string"
	case c == '{':
		return "an object"
	case c == '[':
		return "an array"
	case c == 't' || c == 'f':
		return "a boolean"
	case c == 'n':
		return "null"
	case c == '-' || '0' <= c && c <= '9':
		return "a number"
	default:
		return strconv.QuoteRune(rune(c))
	}
}
