package rpc

import (
	stdjson "encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	json "github.com/goccy/go-json"

	"github.com/ringrpc/ringrpc/transport"
)

// Decoder reads a call's arguments (a JSON array) or its results (the bare value for
// one result, an array for several) into typed variables, one value per method call in
// order. It accepts the bodies encoding/json accepts and reads the same values; its
// error texts are its own. The first error sticks: later reads do nothing, and Finish
// returns it. JSON null leaves the variable unchanged, as encoding/json does.
//
// Arguments evolve by appending: when the array of arguments ends early (an older
// caller), the parameters left are not read and keep their zero values; arguments after
// the last parameter (a newer caller) are checked and ignored.
type Decoder struct {
	data    []byte
	r       JSONReader
	n       int // values started
	array   bool
	ended   bool // the argument array ended before the parameters did
	err     error
	result  bool        // decoding results, not arguments
	message bool        // decoding a stream's message, not arguments or results
	m       *MethodDesc // for messages; may be nil
	// resp is the response whose body data is, given back to the transport by
	// Finish: what was decoded from it is a copy.
	resp *transport.Command
}

// idle is handed out when there is no value to read. Every read of a reader with an
// error returns at once, so idle is never written; it reads as null, so that a pointer
// an older caller left out stays nil, its zero value.
var idle = JSONReader{err: errors.New("no value to read"), absent: true}

func newDecoder(data []byte, array bool) Decoder {
	var d Decoder
	d.start(data, array)
	return d
}

// start readies a zero decoder for data, in place: a server call's decoder, whose
// Call comes cleared from the pool.
func (d *Decoder) start(data []byte, array bool) {
	d.data, d.r.data, d.array = data, data, array
}

func (d *Decoder) failf(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%s: %s", d.label(), fmt.Sprintf(format, args...))
	}
}

// settle takes the reader's error as the decoder's, naming the value it came from
// and the members and elements the reader was in: "argument 1 (item): field qty".
func (d *Decoder) settle() {
	if d.r.err != nil && d.err == nil {
		d.err = fmt.Errorf("%s%s: %w", d.label(), jsonPath(d.data[:min(d.r.pos, len(d.data))], d.array), d.r.err)
	}
}

// pathFrame is an object or array open at some point of a JSON text.
type pathFrame struct {
	object bool
	key    []byte // an object's member being read, nil before its name
	index  int    // an array's element being read
}

// jsonPath names the object members and array elements open at the end of b, the
// JSON read up to an error: ": field items: element 2: field qty". When outer is
// set, the outermost array is the list of arguments, which the label names. Past
// 2*pathEnds+1 levels it names the ends and counts the levels between, and it cuts
// long member names. It runs on the error path only, and trusts b: the reader
// accepted it.
func jsonPath(b []byte, outer bool) string {
	var stack []pathFrame
	for i := 0; i < len(b); i++ {
		top := len(stack) - 1
		switch b[i] {
		case '"':
			end := skipString(b, i)
			if end < 0 {
				i = len(b) // the text ends inside this string
				break
			}
			if top >= 0 && stack[top].object && stack[top].key == nil {
				stack[top].key = b[i+1 : end-1]
			}
			i = end - 1
		case '{', '[':
			stack = append(stack, pathFrame{object: b[i] == '{'})
		case '}', ']':
			if top >= 0 {
				stack = stack[:top]
			}
		case ',':
			if top >= 0 {
				stack[top].key = nil
				stack[top].index++
			}
		}
	}
	if outer && len(stack) > 0 {
		stack = stack[1:]
	}
	var shown []pathFrame // the frames that name something: all but objects before a name
	for _, f := range stack {
		if !f.object || f.key != nil {
			shown = append(shown, f)
		}
	}
	var sb strings.Builder
	for i := 0; i < len(shown); i++ {
		if len(shown) > 2*pathEnds+1 && i == pathEnds {
			// The error travels back to the caller: a deep body must not make it long.
			fmt.Fprintf(&sb, ": ... %d more levels ...", len(shown)-2*pathEnds)
			i = len(shown) - pathEnds
		}
		if f := shown[i]; f.object {
			sb.WriteString(": field ")
			sb.WriteString(memberName(f.key))
		} else {
			fmt.Fprintf(&sb, ": element %d", f.index)
		}
	}
	return sb.String()
}

// pathEnds is how many of the outermost, and of the innermost, members and elements
// an error's path names; those between are counted.
const pathEnds = 3

// memberName prints a member name as is when it reads as an identifier, else quoted;
// a long one is cut, and says how long it was.
func memberName(k []byte) string {
	head, more := clip(k)
	for _, c := range head {
		if !(c == '_' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return quoteClipped(k)
		}
	}
	if len(k) == 0 {
		return `""`
	}
	return string(head) + more
}

// echoMax bounds how much of a member name, a number or a string of the body an error
// repeats, quoted or not: the error travels back to the caller, and a hostile body
// would make it as long as itself.
const echoMax = 32

// clip returns the first echoMax bytes of b, cut before a rune, and, when that is not
// all of b, what says how long b was.
func clip(b []byte) (head []byte, more string) {
	if len(b) <= echoMax {
		return b, ""
	}
	i := echoMax
	for i > 0 && !utf8.RuneStart(b[i]) {
		i--
	}
	return b[:i], fmt.Sprintf("... (%d bytes)", len(b))
}

// clipped is b, clipped, for an error.
func clipped(b []byte) string {
	head, more := clip(b)
	return string(head) + more
}

// quoteClipped is b quoted, clipped, for an error: at most echoMax bytes of b, and
// fewer when their escapes would make the quoted text longer than 1.5 times that.
func quoteClipped(b []byte) string {
	head, more := clip(b)
	q := strconv.Quote(string(head))
	for len(q) > echoMax*3/2+2 {
		_, n := utf8.DecodeLastRune(head)
		head = head[:len(head)-n]
		q = strconv.Quote(string(head))
		more = fmt.Sprintf("... (%d bytes)", len(b))
	}
	return q + more
}

// clipText shortens the text of an error another decoder returned, which may repeat
// the body, to its start and its end.
func clipText(s string) string {
	const keep = 90
	if len(s) <= 2*keep+32 {
		return s
	}
	i, j := keep, len(s)-keep
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	for j < len(s) && !utf8.RuneStart(s[j]) {
		j++
	}
	return fmt.Sprintf("%s ... (%d bytes left out) ... %s", s[:i], j-i, s[j:])
}

// label names the value being read: "argument 2 (b)", "result 1" or "message".
func (d *Decoder) label() string {
	if d.message {
		return "message"
	}
	return argumentLabel(d.n, d.m, d.result)
}

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

// JSON positions the decoder on the next value and returns the reader that generated
// codecs read it with; when there is no value to read (an error, or an older caller's
// shorter arguments) the reader reads nothing.
func (d *Decoder) JSON() *JSONReader {
	if d.next() {
		return &d.r
	}
	return &idle
}

// next positions the decoder on the next value and reports whether there is one.
func (d *Decoder) next() bool {
	d.settle()
	if d.err != nil || d.ended {
		return false
	}
	d.n++
	c := d.r.peek()
	if !d.array {
		if d.n > 1 {
			d.failf("more values read than the body holds")
			return false
		}
		if c == 0 {
			d.failf("missing: the body is empty")
			return false
		}
		return true
	}
	return d.nextInArray(c)
}

func (d *Decoder) nextInArray(c byte) bool {
	want := byte(',')
	if d.n == 1 {
		if c == 'n' {
			return d.null()
		}
		want = '['
	}
	switch {
	case c == 0 && d.n == 1:
		d.err = d.emptyBody()
		return false
	case c == 0:
		d.failf("missing: the JSON array ends early")
		return false
	case c == ']' && d.n > 1 || c == want && d.n == 1 && d.emptyArray():
		return d.short()
	case c != want:
		if d.n == 1 {
			d.failf("the body is not a JSON array")
		} else {
			d.failf("want ',' between values, got %q", c)
		}
		return false
	}
	d.r.pos++
	return true
}

// emptyBody is the error of a body with nothing but white space in it.
func (d *Decoder) emptyBody() error {
	if d.result {
		return errors.New("the body is empty: want the results as a JSON array")
	}
	return errors.New("the body is empty: send the arguments as a JSON array, [] for none")
}

// null reads a body of null, which encoding/json reads as an empty array: arguments
// keep their zero values, results are missing.
func (d *Decoder) null() bool {
	if !d.r.literal("null") {
		d.settle()
		return false
	}
	if d.result {
		d.failf("missing: the body is null")
		return false
	}
	d.ended = true
	return false
}

// emptyArray reports whether the body is [] (with white space).
func (d *Decoder) emptyArray() bool {
	i := d.r.pos + 1
	for i < len(d.data) && (d.data[i] == ' ' || d.data[i] == '\t' || d.data[i] == '\n' || d.data[i] == '\r') {
		i++
	}
	return i < len(d.data) && d.data[i] == ']'
}

// short handles an array that ends before value n: arguments keep their zero values,
// results are missing.
func (d *Decoder) short() bool {
	if d.result {
		if d.n == 1 {
			d.failf("missing: the JSON array is empty")
		} else {
			d.failf("missing: the JSON array has only %d", d.n-1)
		}
		return false
	}
	if d.n == 1 {
		d.r.pos++ // the '['
		d.r.skipSpace()
	}
	d.r.pos++ // the ']'
	d.ended = true
	return false
}

// Finish checks that all values were read and nothing follows them, and returns the
// first error as an *Error: CodeBadArguments for arguments, CodeInternal for results.
// The decoder reads nothing after it: the memory of a response it read goes back to
// the transport for later responses (what was decoded from it is a copy).
func (d *Decoder) Finish() error {
	err := d.finish()
	if d.resp != nil { // decoded: what was read from the body is a copy
		transport.Release(d.resp)
		d.resp, d.data, d.r.data = nil, nil, nil
	}
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
	d.settle()
	if d.err != nil {
		return d.err
	}
	if d.array && !d.ended {
		if err := d.closeArray(); err != nil {
			return err
		}
	}
	if d.r.peek(); d.r.pos < len(d.data) {
		if d.result && d.m != nil && len(d.m.Results) == 0 {
			return fmt.Errorf("%s has no results: its response's body is empty, got %d bytes", d.m.Name, len(d.data))
		}
		return fmt.Errorf("unexpected data after the last value at offset %d", d.r.pos)
	}
	return nil
}

// closeArray reads the end of the array, skipping the arguments of a newer caller.
func (d *Decoder) closeArray() error {
	r := &d.r
	if d.n == 0 {
		if r.peek() == 'n' && !d.result {
			if !r.literal("null") {
				return r.err
			}
			return nil // no arguments, as encoding/json reads an empty array
		}
		switch r.peek() {
		case 0:
			return d.emptyBody()
		case '[':
		default:
			return fmt.Errorf("the body is not a JSON array")
		}
		r.pos++
		if r.peek() != ']' && !d.result {
			r.Skip() // arguments for parameters this side does not have
			d.n = 1
		}
	}
	for r.err == nil && r.peek() == ',' && !d.result {
		r.pos++
		r.Skip()
	}
	if r.err != nil {
		return fmt.Errorf("an argument beyond the parameters: %w", r.err)
	}
	switch r.peek() {
	case ']':
	case ',':
		return fmt.Errorf("more values than the %d expected", d.n)
	case 0:
		return fmt.Errorf("the argument array ends without its ']' after %d values", d.n)
	default:
		return fmt.Errorf("want ',' or ']' after %d values, got %s", d.n, r.describe())
	}
	r.pos++
	return nil
}

// String reads a JSON string.
func (d *Decoder) String(p *string) { d.JSON().String(p) }

// Bool reads true or false.
func (d *Decoder) Bool(p *bool) { d.JSON().Bool(p) }

// Bytes reads base64 text, as encoding/json writes []byte.
func (d *Decoder) Bytes(p *[]byte) { d.JSON().Bytes(p) }

// Value reads the next value into p, a pointer, with github.com/goccy/go-json. A
// panic while decoding is the decoder's error, as any other failure to decode.
func (d *Decoder) Value(p any) { d.JSON().Value(p) }

// unmarshal is go-json's Unmarshal with a panic, in go-json or in an UnmarshalJSON
// method, returned as an error. What go-json refuses is read again with
// encoding/json, which reads some values go-json does not (the largest float32, that
// both write), so that what encoding/json round-trips does; only what both refuse is
// an error, go-json's. The second reading starts from the zero value go-json started
// from, not from what go-json had filled before it failed; a value that was not zero
// before, which encoding/json would read into, is not read twice.
func unmarshal(data []byte, p any) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = panicError("JSON decoding into %T panicked (in its UnmarshalJSON or in go-json)", p, r)
		}
	}()
	v := reflect.ValueOf(p)
	fresh := v.Kind() == reflect.Pointer && !v.IsNil() && v.Elem().IsZero()
	if err = json.Unmarshal(data, p); err == nil || !fresh {
		return err
	}
	v.Elem().SetZero()
	if stdjson.Unmarshal(data, p) != nil {
		return err
	}
	return nil
}

// quotedStructs maps a field's type to a struct type with one field of that type
// tagged ",string", in which unmarshalQuoted has encoding/json read it.
var quotedStructs sync.Map // reflect.Type -> reflect.Type

// unmarshalQuoted reads data, the value of a field with the ",string" option, into
// p, a pointer to the field, as encoding/json reads such a field: through a struct
// holding the field's current value, so that null leaves it.
func unmarshalQuoted(data []byte, p any) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = panicError("JSON decoding into %T panicked (in its UnmarshalJSON or UnmarshalText)", p, r)
		}
	}()
	field := reflect.ValueOf(p).Elem()
	st, ok := quotedStructs.Load(field.Type())
	if !ok {
		st, _ = quotedStructs.LoadOrStore(field.Type(), reflect.StructOf([]reflect.StructField{
			{Name: "V", Type: field.Type(), Tag: `json:"v,string"`},
		}))
	}
	holder := reflect.New(st.(reflect.Type))
	holder.Elem().Field(0).Set(field)
	doc := make([]byte, 0, len(data)+len(`{"v":}`))
	doc = append(append(append(doc, `{"v":`...), data...), '}')
	if err := stdjson.Unmarshal(doc, holder.Interface()); err != nil {
		return err
	}
	field.Set(holder.Elem().Field(0))
	return nil
}

// DecodeInt reads an integer into p, failing when it does not fit p's type.
func DecodeInt[T Signed](d *Decoder, p *T) { ReadInt(d.JSON(), p) }

// DecodeUint reads an unsigned integer into p, failing when it does not fit.
func DecodeUint[T Unsigned](d *Decoder, p *T) { ReadUint(d.JSON(), p) }

// DecodeFloat reads a number into p.
func DecodeFloat[T Float](d *Decoder, p *T) { ReadFloat(d.JSON(), p) }

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
