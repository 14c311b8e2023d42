package rpc

import (
	"context"
	stdjson "encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestEncoderMatchesEncodingJSON(t *testing.T) {
	strs := []string{"", "plain", `quote " backslash \ slash /`, "ctl \x00\x01\x1f\n\r\t\b\f", "üñï€𝄞", "bad \xff\xfe utf8", "\u2028\u2029", "<&>"}
	for _, s := range strs {
		var e Encoder
		e.reset(nil, false)
		e.String(s)
		got, _ := e.finish()
		want, _ := stdjson.Marshal(s) // <, > and & escaped for HTML, as go-json does too
		if string(got) != string(want) {
			t.Errorf("String(%q) = %s, encoding/json says %s", s, got, want)
		}
	}
	floats := []float64{0, 1, -1.5, 1e-7, 123456789, 1e21, 1e20, math.SmallestNonzeroFloat64, math.MaxFloat64, 3.0000001}
	for _, f := range floats {
		var e Encoder
		e.reset(nil, false)
		EncodeFloat(&e, f)
		got, _ := e.finish()
		want, _ := stdjson.Marshal(f)
		if string(got) != string(want) {
			t.Errorf("float %v = %s, encoding/json says %s", f, got, want)
		}
		e.reset(nil, false)
		EncodeFloat(&e, float32(f))
		got, _ = e.finish()
		want, _ = stdjson.Marshal(float32(f))
		if f < math.MaxFloat32 && string(got) != string(want) {
			t.Errorf("float32 %v = %s, encoding/json says %s", float32(f), got, want)
		}
	}
	var e Encoder
	e.reset(nil, true)
	EncodeFloat(&e, math.NaN())
	if _, err := e.finish(); err == nil {
		t.Error("NaN encoded without an error")
	}
}

func TestEncoderArrays(t *testing.T) {
	var e Encoder
	e.reset([]byte("prefix:"), true)
	if b, _ := e.finish(); string(b) != "prefix:[]" {
		t.Fatalf("empty array: %s", b)
	}
	e.reset(nil, true)
	e.String("a")
	EncodeInt(&e, int8(-3))
	EncodeUint(&e, uint64(math.MaxUint64))
	e.Bool(true)
	e.Bytes([]byte{0, 1, 2})
	e.Bytes(nil)
	e.Value(&Item{ID: 1})
	b, err := e.finish()
	want := `["a",-3,18446744073709551615,true,"AAEC",null,{"id":1,"name":"","when":"0001-01-01T00:00:00Z"}]`
	if err != nil || string(b) != want {
		t.Fatalf("got %s (%v)\nwant %s", b, err, want)
	}
	if string(e.first()) != `"a"` {
		t.Fatalf("first = %s", e.first())
	}
	e.reset(nil, true)
	e.Value(func() {})
	if _, err := e.finish(); err == nil {
		t.Fatal("a func encoded without an error")
	}
}

func TestDecoder(t *testing.T) {
	type got struct {
		s  string
		i  int16
		u  uint8
		f  float32
		b  bool
		bs []byte
		it Item
	}
	decodeAll := func(body string) (got, error) {
		var g got
		d := newDecoder([]byte(body), true)
		d.String(&g.s)
		DecodeInt(&d, &g.i)
		DecodeUint(&d, &g.u)
		DecodeFloat(&d, &g.f)
		d.Bool(&g.b)
		d.Bytes(&g.bs)
		d.Value(&g.it)
		return g, d.Finish()
	}
	tests := []struct {
		name string
		body string
		err  string
	}{
		{"valid", ` [ "a\u00e9\ud834\udd1e\n" , -32768 , 255 , 1.5e2 , true , "AAEC" , {"id":3,"tags":["x"]} ] `, ""},
		{"nulls keep values", `[null,null,null,null,null,null,null]`, ""},
		{"not an array", `{"a":1}`, "not a JSON array"},
		{"empty", ``, "the body is empty: send the arguments as a JSON array, [] for none"},
		{"empty array: an older caller", `[]`, ""},
		{"null, read as encoding/json reads it: no arguments", ` null `, ""},
		{"null cut short", `nul`, "invalid literal"},
		{"null and more", `null,1`, "unexpected data"},
		{"fewer arguments: an older caller", `["a",1]`, ""},
		{"more arguments: a newer caller", `["a",1,1,1,true,"",{},[1,{"x":"]"}],"z"]`, ""},
		{"bad extra argument", `["a",1,1,1,true,"",{},tru]`, "an argument beyond the parameters"},
		{"int overflow", `["a",32768,1,1,true,"",{}]`, "32768 is not an integer of 16 bits"},
		{"negative uint", `["a",1,-1,1,true,"",{}]`, "-1 is not an unsigned integer of 8 bits"},
		{"float for int", `["a",1.5,1,1,true,"",{}]`, "1.5 is not an integer"},
		{"bad float", `["a",1,1,1.,true,"",{}]`, "1. is not a float"},
		{"string for bool", `["a",1,1,1,"true","",{}]`, "want a boolean, got a string"},
		{"bad base64", `["a",1,1,1,true,"!!",{}]`, "bad base64"},
		{"bad struct", `["a",1,1,1,true,"",{"id":"x"}]`, "argument 7"},
		{"trailing data", `["a",1,1,1,true,"",{}] x`, "unexpected data"},
		{"missing comma", `["a" 1]`, "want ',' between values"},
		{"unterminated string", `["abc`, "unterminated string"},
		{"control char", "[\"a\x01\"]", "control character"},
		{"bad escape", `["\q"]`, `bad escape \q`},
		{"short unicode escape", `["\u12"]`, `bad \u escape`},
		{"unterminated object", `["a",1,1,1,true,"",{"id":1`, "after an object member, got the end of the JSON"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g, err := decodeAll(tc.body)
			if tc.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				if tc.name == "valid" && (g.s != "aé𝄞\n" || g.i != -32768 || g.u != 255 || g.f != 150 || !g.b || string(g.bs) != "\x00\x01\x02" || g.it.ID != 3 || g.it.Tags[0] != "x") {
					t.Fatalf("decoded %+v", g)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("err = %v, want %q", err, tc.err)
			}
			if CodeOf(err) != CodeBadArguments {
				t.Fatalf("code %v", CodeOf(err))
			}
		})
	}
}

func TestResultDecoder(t *testing.T) {
	d := newDecoder([]byte(` "x" `), false)
	d.result = true
	var s string
	d.String(&s)
	if err := d.Finish(); err != nil || s != "x" {
		t.Fatalf("%q %v", s, err)
	}
	d = newDecoder([]byte(`"x" "y"`), false)
	d.result = true
	d.String(&s)
	if err := d.Finish(); CodeOf(err) != CodeInternal || !strings.Contains(err.Error(), "undecodable response") {
		t.Fatalf("trailing result: %v", err)
	}
	d = newDecoder(nil, false)
	if err := d.Finish(); err != nil {
		t.Fatalf("no results: %v", err)
	}
}

func TestCodes(t *testing.T) {
	for c := CodeOK; c <= maxCode; c++ {
		if got := fromWire(toWire(c)); got != c {
			t.Errorf("%v -> wire %d -> %v", c, toWire(c), got)
		}
		if strings.HasPrefix(c.String(), "Code(") {
			t.Errorf("code %d has no name", c)
		}
	}
	for wire, want := range map[int32]Code{3: CodeUnimplemented, 1500: CodeUnavailable, 17: CodeUnknown, 699: CodeUnknown, 720: CodeUnknown} {
		if got := fromWire(wire); got != want {
			t.Errorf("fromWire(%d) = %v, want %v", wire, got, want)
		}
	}
	if Code(99).String() != "Code(99)" {
		t.Error(Code(99).String())
	}
}

// TestValueOnFreshStacks encodes and decodes stack values from goroutines whose small
// stacks grow during the call: the values must come through intact.
func TestValueOnFreshStacks(t *testing.T) {
	want := `{"id":42,"name":"n","tags":["a","b"],"attrs":{"k":"v"},"when":"0001-01-01T00:00:00Z"}`
	errs := make(chan string, 200)
	var wg sync.WaitGroup
	for range 200 {
		wg.Go(func() {
			it := Item{ID: 42, Name: "n", Tags: []string{"a", "b"}, Attrs: map[string]string{"k": "v"}}
			var e Encoder
			e.reset(nil, false)
			e.Value(&it)
			got, err := e.finish()
			if err != nil || string(got) != want {
				errs <- fmt.Sprintf("encoded %s (%v)", got, err)
				return
			}
			var back Item
			d := newDecoder(got, false)
			d.Value(&back)
			if err := d.Finish(); err != nil || back.ID != 42 || back.Tags[1] != "b" || back.Attrs["k"] != "v" {
				errs <- fmt.Sprintf("decoded %+v (%v)", back, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
}

func TestCallCtx(t *testing.T) {
	parent, cancelParent := context.WithCancel(context.Background())
	defer cancelParent()
	// A deadline that passes without anyone asking for Done still shows in Err.
	c := newCallCtx(parent, time.Now().Add(-time.Millisecond), nil, "")
	if !errors.Is(c.Err(), context.DeadlineExceeded) || handlerCtx(c) != c {
		t.Fatalf("Err %v", c.Err())
	}
	select {
	case <-c.Done():
	default:
		t.Fatal("Done not closed after the deadline")
	}
	// Done closes at the deadline.
	c = newCallCtx(parent, time.Now().Add(20*time.Millisecond), nil, "")
	if dl, ok := c.Deadline(); !ok || time.Until(dl) > time.Second {
		t.Fatalf("Deadline %v %v", dl, ok)
	}
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("Done never closed")
	}
	if !errors.Is(c.Err(), context.DeadlineExceeded) {
		t.Fatal(c.Err())
	}
	c.release()
	// The parent's cancellation reaches a handler waiting on Done, and derived contexts.
	c = newCallCtx(parent, time.Time{}, nil, "")
	child, cancelChild := context.WithCancel(c)
	defer cancelChild()
	if _, ok := c.Deadline(); ok {
		t.Fatal("a deadline without one")
	}
	cancelParent()
	select {
	case <-child.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("parent cancellation lost")
	}
	if !errors.Is(c.Err(), context.Canceled) {
		t.Fatal(c.Err())
	}
	c.release()
}

// Pointer-shaped types: a struct whose only field is a pointer is stored in an
// interface value as the pointer itself. JSON encoders that assume otherwise read the
// pointee as the struct and crash.
type (
	shapedItem   struct{ A string }
	shapedDetail struct{ I shapedItem }
	shapedBody   struct{ Payload *shapedDetail }
	shapedLink   struct{ Next *shapedLink }
	shapedArray  [1]*int
)

// TestValueThroughAny encodes values that reach the JSON encoder through an interface,
// as a method's any parameter or a map[string]any does: the output must be
// encoding/json's, and decoding it back into an any must give encoding/json's value.
func TestValueThroughAny(t *testing.T) {
	one := 1
	body := shapedBody{Payload: &shapedDetail{I: shapedItem{A: "a"}}}
	values := []struct {
		name string
		v    any
	}{
		{"struct of a pointer to a struct", body},
		{"recursive struct", shapedLink{Next: &shapedLink{}}},
		{"array of one pointer", shapedArray{&one}},
		{"plain struct", Item{ID: 1, Tags: []string{"x"}}},
	}
	for _, tc := range values {
		v := tc.v
		for _, place := range []struct {
			name string
			v    any
		}{
			{"bare", v},
			{"pointer to any", &v},
			{"map[string]any", map[string]any{"s": v}},
			{"[]any", []any{v}},
			{"struct field of type any", struct{ V any }{v}},
		} {
			t.Run(tc.name+"/"+place.name, func(t *testing.T) {
				want, err := stdjson.Marshal(place.v)
				if err != nil {
					t.Fatal(err)
				}
				var e Encoder
				e.reset(nil, true)
				e.Value(place.v)
				e.String("after")
				got, err := e.finish()
				if err != nil || string(got) != "["+string(want)+`,"after"]` {
					t.Fatalf("encoded %s (%v), encoding/json says %s", got, err, want)
				}
				var back, stdBack any
				d := newDecoder(got, true)
				d.Value(&back)
				var s string
				d.String(&s)
				if err := d.Finish(); err != nil {
					t.Fatal(err)
				}
				if err := stdjson.Unmarshal(want, &stdBack); err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(back, stdBack) || s != "after" {
					t.Fatalf("decoded %#v %q, encoding/json %#v", back, s, stdBack)
				}
			})
		}
	}
}

// Values whose JSON methods panic, for TestCodecPanicsAreErrors.
type (
	// panicky panics in MarshalJSON when Boom is set, and in UnmarshalJSON on "boom".
	panicky struct{ Boom bool }
	// derefs dereferences its nil N in both methods.
	derefs struct{ N *int }
	// nilReceiver's MarshalJSON reads through its receiver, which encoding/json and
	// go-json pass as is when a nil one is held by a json.Marshaler field.
	nilReceiver struct{ name string }
	// nilMapMarshaler's MarshalJSON is called for a nil map too, and reads an entry.
	nilMapMarshaler map[string]*int
	// errorPanic panics with an error.
	errorPanic struct{}
)

func (p panicky) MarshalJSON() ([]byte, error) {
	if p.Boom {
		panic("boom")
	}
	return []byte(`"calm"`), nil
}

func (p *panicky) UnmarshalJSON(b []byte) error {
	if string(b) == `"boom"` {
		panic("boom")
	}
	return nil
}

func (d *derefs) MarshalJSON() ([]byte, error) { return fmt.Appendf(nil, "%d", *d.N), nil }

func (d *derefs) UnmarshalJSON([]byte) error { *d.N = 1; return nil }

func (n *nilReceiver) MarshalJSON() ([]byte, error) { return stdjson.Marshal(n.name) }

func (m nilMapMarshaler) MarshalJSON() ([]byte, error) { return fmt.Appendf(nil, "%d", *m["k"]), nil }

func (errorPanic) MarshalJSON() ([]byte, error) { panic(io.ErrUnexpectedEOF) }

// TestCodecPanicsAreErrors: a panic while encoding or decoding a user's value is the
// encoder's or decoder's error, naming the value and the type; nothing escapes, and the
// encoder goes on writing valid JSON.
func TestCodecPanicsAreErrors(t *testing.T) {
	put := &MethodDesc{Name: "Put", Params: []Param{{Name: "key", Type: "string"}, {Name: "v", Type: "any"}}}
	var nilMarshaler stdjson.Marshaler = (*nilReceiver)(nil)
	encodes := []struct {
		name string
		v    any
		err  string
	}{
		{"MarshalJSON panics", panicky{Boom: true}, "argument 2 (v): JSON encoding of rpc.panicky panicked (in its MarshalJSON or in go-json): boom"},
		{"MarshalJSON panics in a map[string]any", map[string]any{"s": panicky{Boom: true}}, "JSON encoding of map[string]interface {} panicked"},
		{"MarshalJSON panics in a struct field of type any", struct{ V any }{panicky{Boom: true}}, "JSON encoding of struct { V interface {} } panicked"},
		{"MarshalJSON dereferences nil", &derefs{}, "JSON encoding of *rpc.derefs panicked (in its MarshalJSON or in go-json): runtime error: invalid memory address or nil pointer dereference"},
		{"nil pointer receiver", struct{ M stdjson.Marshaler }{nilMarshaler}, "runtime error: invalid memory address or nil pointer dereference"},
		{"nil map receiver", nilMapMarshaler(nil), "JSON encoding of rpc.nilMapMarshaler panicked"},
		{"panic with an error", []errorPanic{{}}, "JSON encoding of []rpc.errorPanic panicked (in its MarshalJSON or in go-json): unexpected EOF"},
	}
	for _, tc := range encodes {
		t.Run("encode/"+tc.name, func(t *testing.T) {
			var e Encoder
			e.reset(nil, true)
			e.describe(put, false)
			e.String("k")
			e.Value(tc.v)
			e.Value(panicky{}) // the encoder and go-json still work
			b, err := e.finish()
			if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.HasPrefix(err.Error(), "argument 2 (v): ") {
				t.Fatalf("err = %v, want %q", err, tc.err)
			}
			if string(b) != `["k",null,"calm"]` {
				t.Fatalf("encoded %s", b)
			}
		})
	}
	t.Run("encode/error kept for errors.Is", func(t *testing.T) {
		var e Encoder
		e.reset(nil, false)
		e.describe(put, true)
		e.Value(errorPanic{})
		if _, err := e.finish(); !errors.Is(err, io.ErrUnexpectedEOF) || !strings.HasPrefix(err.Error(), "result 1: ") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("route key", func(t *testing.T) {
		if k := KeyJSON(panicky{Boom: true}); k != "" {
			t.Fatalf("KeyJSON = %q", k)
		}
		if k := KeyJSON(panicky{}); k != `"calm"` {
			t.Fatalf("KeyJSON = %q", k)
		}
	})

	decodes := []struct {
		name string
		body string
		p    func() any
		err  string
	}{
		{"UnmarshalJSON panics", `"boom"`, func() any { return new(panicky) }, "JSON decoding into *rpc.panicky panicked (in its UnmarshalJSON or in go-json): boom"},
		{"UnmarshalJSON panics in a slice", `["x","boom"]`, func() any { return new([]panicky) }, "JSON decoding into *[]rpc.panicky panicked"},
		{"UnmarshalJSON panics in a map", `{"a":"boom"}`, func() any { return new(map[string]panicky) }, "JSON decoding into *map[string]rpc.panicky panicked"},
		{"UnmarshalJSON dereferences nil", `{"x":1}`, func() any { return new(derefs) }, "JSON decoding into *rpc.derefs panicked (in its UnmarshalJSON or in go-json): runtime error: invalid memory address or nil pointer dereference"},
		{"behind an any holding a pointer", `"boom"`, func() any { var v any = &panicky{}; return &v }, "JSON decoding into *interface {} panicked"},
	}
	for _, tc := range decodes {
		t.Run("decode/"+tc.name, func(t *testing.T) {
			var key string
			d := newDecoder([]byte(`["k",`+tc.body+`,"calm"]`), true)
			d.m = put
			d.String(&key)
			d.Value(tc.p())
			var after panicky
			d.Value(&after)
			err := d.Finish()
			if CodeOf(err) != CodeBadArguments || !strings.Contains(err.Error(), "bad arguments for Put: argument 2 (v): "+tc.err) {
				t.Fatalf("err = %v, want %q", err, tc.err)
			}
			// go-json still decodes the same types.
			d = newDecoder([]byte(`"calm"`), false)
			d.result = true
			d.Value(&after)
			if err := d.Finish(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

var panickyDesc = ServiceDesc{
	Name: "github.com/ringrpc/ringrpc/rpc.Panicky",
	Methods: []MethodDesc{
		{Name: "Echo", Params: []Param{{Name: "s", Type: "string"}}, Results: []string{"any"}},
		{Name: "Take", Params: []Param{{Name: "v", Type: "rpc.panicky"}}},
	},
}

// servePanicky serves Panicky: Echo answers "panic-result" with a result whose
// MarshalJSON panics and anything else with the string; Take decodes a panicky.
func servePanicky(t *testing.T) string {
	t.Helper()
	s := NewServer(ServerOptions{Logger: quiet})
	err := s.Register(&panickyDesc, []Handler{
		func(ctx context.Context, args *Decoder, res *Encoder) error {
			var s string
			args.String(&s)
			if err := args.Finish(); err != nil {
				return err
			}
			if s == "panic-result" {
				res.Value(panicky{Boom: true})
			} else {
				res.String(s)
			}
			return nil
		},
		func(ctx context.Context, args *Decoder, res *Encoder) error {
			var v panicky
			args.Value(&v)
			return args.Finish()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	addr := serve(t, s.Serve, s.Close)
	return addr
}

// containsInOrder reports whether s has the parts in order; the label the encoder gives
// a value ("value 1", "argument 1 (s)") stands between them.
func containsInOrder(s string, parts []string) bool {
	for _, p := range parts {
		i := strings.Index(s, p)
		if i < 0 {
			return false
		}
		s = s[i+len(p):]
	}
	return true
}

// TestCallPanicsAreErrors: panics in the JSON of arguments and results, on either
// side, fail the call with a code and the reason, and both processes go on serving.
func TestCallPanicsAreErrors(t *testing.T) {
	_, c := newGreeterClient(t, ClientOptions{Resolver: StaticAddress(servePanicky(t))})
	ctx := context.Background()
	echo := func(s string, arg any, result any) error {
		call := c.NewCall(&panickyDesc, 0)
		if arg != nil {
			call.Args.Value(arg)
		} else {
			call.Args.String(s)
		}
		d, err := c.Invoke(ctx, call)
		if err != nil {
			return err
		}
		d.Value(result)
		return d.Finish()
	}
	tests := []struct {
		name string
		call func() error
		code Code
		err  string
	}{
		{"the client's argument", func() error { return echo("", panicky{Boom: true}, new(string)) }, CodeBadArguments,
			"encoding the arguments of github.com/ringrpc/ringrpc/rpc.Panicky.Echo: *: JSON encoding of rpc.panicky panicked (in its MarshalJSON or in go-json): boom"},
		{"the server's argument", func() error {
			call := c.NewCall(&panickyDesc, 1)
			call.Args.String("boom")
			d, err := c.Invoke(ctx, call)
			if err != nil {
				return err
			}
			return d.Finish()
		}, CodeBadArguments, "bad arguments for Take: argument 1 (v): JSON decoding into *rpc.panicky panicked (in its UnmarshalJSON or in go-json): boom"},
		{"the server's result", func() error { return echo("panic-result", nil, new(string)) }, CodeInternal,
			"encoding the results of github.com/ringrpc/ringrpc/rpc.Panicky.Echo: *: JSON encoding of rpc.panicky panicked (in its MarshalJSON or in go-json): boom"},
		{"the client's result", func() error { return echo("boom", nil, new(panicky)) }, CodeInternal,
			"undecodable response of Echo: result 1: JSON decoding into *rpc.panicky panicked (in its UnmarshalJSON or in go-json): boom"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if CodeOf(err) != tc.code || err == nil || !containsInOrder(err.Error(), strings.Split(tc.err, "*")) {
				t.Fatalf("err = %v (%v), want %v %q", err, CodeOf(err), tc.code, tc.err)
			}
			var s string
			if err := echo("still here", nil, &s); err != nil || s != "still here" {
				t.Fatalf("the next call: %q %v", s, err)
			}
		})
	}
}

// TestDecoderNullBody: a body of null is an empty argument list, as encoding/json
// reads it, for a method with parameters or without; results that are null are
// missing.
func TestDecoderNullBody(t *testing.T) {
	for _, tc := range []struct {
		name   string
		result bool
		values int
		err    string
	}{
		{"arguments", false, 2, ""},
		{"no parameters", false, 0, ""},
		{"results", true, 1, "missing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newDecoder([]byte("null"), true)
			d.result = tc.result
			s := "kept"
			for range tc.values {
				d.String(&s)
			}
			err := d.Finish()
			if tc.err == "" && (err != nil || s != "kept") {
				t.Fatalf("%v, %q; want no error, the zero value kept", err, s)
			}
			if tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
				t.Fatalf("%v, want an error saying %q", err, tc.err)
			}
		})
	}
}

// TestDecoderAbsentValueReadsAsNull: the reader of an argument the body does not hold
// reports a null, so that a generated decoder of a pointer, slice or map leaves it nil
// rather than allocating a zero value; a reader that failed does not.
func TestDecoderAbsentValueReadsAsNull(t *testing.T) {
	for _, tc := range []struct {
		body string
		skip int // values read before
		null bool
	}{
		{`null`, 0, true},
		{`[]`, 0, true},
		{`["k"]`, 1, true},
		{`["k",null]`, 1, true},
		{`["k",1]`, 1, false},
		{`[tru]`, 0, false},
	} {
		t.Run(tc.body, func(t *testing.T) {
			d := newDecoder([]byte(tc.body), true)
			var s string
			for range tc.skip {
				d.String(&s)
			}
			if got := d.JSON().Null(); got != tc.null {
				t.Fatalf("Null() = %v, want %v", got, tc.null)
			}
		})
	}
}

// A value go-json refuses to read but encoding/json reads, the largest float32 that
// both write, is read by encoding/json: what encoding/json round-trips does.
func TestValueFallsBackToEncodingJSON(t *testing.T) {
	type opaque struct{ F float32 }
	for _, tc := range []struct {
		body string
		ok   bool
	}{
		{`[{"F":3.4028235e+38}]`, true},
		{`[{"F":-3.4028235e+38}]`, true},
		{`[{"F":1e39}]`, false},
		{`[{"F":"x"}]`, false},
	} {
		var v opaque
		d := newDecoder([]byte(tc.body), true)
		d.Value(&v)
		err := d.Finish()
		var want []opaque
		stdErr := stdjson.Unmarshal([]byte(tc.body), &want)
		if (err == nil) != tc.ok || (stdErr == nil) != tc.ok || tc.ok && v != want[0] {
			t.Errorf("%s: read %+v, %v; encoding/json %+v, %v", tc.body, v, err, want, stdErr)
		}
	}
	// encoding/json reads from the zero value, not from what go-json filled before it
	// failed: an UnmarshalJSON that appends does not append twice.
	var w struct {
		L appending
		F float32
	}
	d := newDecoder([]byte(`[{"L":[1,2],"F":3.4028235e+38}]`), true)
	d.Value(&w)
	if err := d.Finish(); err != nil || !slices.Equal(w.L, appending{1, 2}) || w.F != math.MaxFloat32 {
		t.Errorf("read %+v, %v; want L [1 2]", w, err)
	}
}

// appending is a list whose UnmarshalJSON appends to what it holds.
type appending []int

func (l *appending) UnmarshalJSON(b []byte) error {
	var more []int
	if err := stdjson.Unmarshal(b, &more); err != nil {
		return err
	}
	*l = append(*l, more...)
	return nil
}
