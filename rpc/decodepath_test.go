package rpc

import (
	"strings"
	"testing"
)

// readItem decodes an object as generated code does: members by name, the rest
// skipped.
func readItem(r *JSONReader) {
	if !r.Object() {
		return
	}
	for i := 0; ; i++ {
		k, ok := r.Field(i)
		if !ok {
			return
		}
		switch string(k) {
		case "qty":
			var q int64
			ReadInt(r, &q)
		case "sku":
			var s string
			r.String(&s)
		case "tags", "two words":
			if r.Array() {
				for j := 0; r.Elem(j); j++ {
					var s string
					r.String(&s)
				}
			}
		case "sub":
			readItem(r)
		default:
			r.Skip()
		}
	}
}

// A struct argument's decode error names the member, and the elements, it is in, as
// a basic argument's names the argument.
func TestDecodeErrorNamesTheField(t *testing.T) {
	m := &MethodDesc{Name: "Add", Params: []Param{{Name: "n", Type: "int"}, {Name: "item", Type: "Item"}}}
	tests := []struct{ body, want string }{
		{`[1, {"sku":"a","qty":"2"}]`, "bad arguments for Add: argument 2 (item): field qty: want a number, got a string"},
		{`[1, {"tags":["x", 2]}]`, "argument 2 (item): field tags: element 1: want a string, got a number"},
		{`[1, {"sku":"a", "sub": {"tags": [], "qty": 1.5}}]`, "argument 2 (item): field sub: field qty: 1.5 is not an integer of 64 bits"},
		{`[1, {"other": {"qty": "x"}, "two words": [true]}]`, `argument 2 (item): field "two words": element 0: want a string, got a boolean`},
		{`[1, {"sku": "a\"b", "qty": {}}]`, "argument 2 (item): field qty: want a number, got an object"},
		{`[1, {"sku":"a" "qty":1}]`, "argument 2 (item): field sku: want ',' or '}' after an object member"},
		{`[1, ["x"]]`, "argument 2 (item): want an object, got an array"},
		{`["x", {}]`, "argument 1 (n): want a number, got a string"},
		{`[1, {}`, "the argument array ends without its ']' after 2 values"},
		{`[1, {} x]`, "want ',' or ']' after 2 values, got 'x'"},
		{`[1, {}, {"a":}]`, "an argument beyond the parameters: want a JSON value, got '}'"},
		{`[1, {"other": [}]}]`, "argument 2 (item): field other: element 0: want a JSON value, got '}'"},
	}
	for _, tc := range tests {
		d := newDecoder([]byte(tc.body), true)
		d.m = m
		var n int
		DecodeInt(&d, &n)
		readItem(d.JSON())
		if err := d.Finish(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v\nwant %s", tc.body, err, tc.want)
		}
	}
}

// A result's decode error names the member too.
func TestDecodeResultErrorNamesTheField(t *testing.T) {
	d := newDecoder([]byte(`{"sub":{"qty":"9"}}`), false)
	d.result = true
	readItem(d.JSON())
	if err := d.Finish(); err == nil || !strings.Contains(err.Error(), "result 1: field sub: field qty: want a number, got a string") {
		t.Fatalf("got %v", err)
	}
}

// A hostile body fails with CodeBadArguments; the error, which travels back as the
// response's remark and ends in the caller's logs, names where it failed without
// repeating each of the 10,000 members it is nested in, or copying a member name, a
// map key or a number of 100 KB: its outermost and innermost levels, the start of a
// name, and the start and end of go-json's error.
func TestDecodeErrorIsBounded(t *testing.T) {
	m := &MethodDesc{Name: "Rec", Params: []Param{{Name: "r", Type: "*Node"}}}
	long := strings.Repeat("a", 100000)
	for _, tc := range []struct {
		name, body string
		read       func(*JSONReader) // readItem when nil
		says       []string
	}{
		{"deep", "[" + strings.Repeat(`{"next":`, 10001) + "{}" + strings.Repeat("}", 10001) + "]", nil,
			[]string{"argument 1 (r): field next: field next: field next: ... 9994 more levels ...: field next: field next: field next: exceeded max depth"}},
		{"longname", `[{"` + long + `": [}]}]`, nil,
			[]string{"argument 1 (r): field " + long[:32] + "... (100000 bytes): element 0: want a JSON value, got '}'"}},
		{"longquotedname", `[{"` + strings.Repeat("é\\n", 50000) + `": [}]}]`, nil,
			[]string{`field "` + strings.Repeat(`é\\n`, 8) + `"... (200000 bytes): element 0`}},
		{"deeplongnames", "[" + strings.Repeat(`{"`+long[:5000]+`":`, 100) + "[}" + strings.Repeat("}", 100) + "]", nil,
			[]string{"... 95 more levels ...: field ", "want a JSON value, got '}'"}},
		{"longnumber", `[{"qty": 1` + strings.Repeat("0", 100000) + `.5}]`, nil,
			[]string{"argument 1 (r): field qty: 1" + strings.Repeat("0", 31) + "... (100003 bytes) is not an integer of 64 bits"}},
		{"longmapkey", `[{"1` + strings.Repeat("0", 100000) + `": 1}]`, func(r *JSONReader) {
			if r.Object() {
				k, _ := r.Field(0)
				ReadIntKey[int8](r, k)
			}
		}, []string{`: map key "1` + strings.Repeat("0", 31) + `"... (100001 bytes) is not an integer of 8 bits`}},
		{"gojson", `[{"A": 1` + strings.Repeat("0", 100000) + `}]`, func(r *JSONReader) {
			var v struct{ A int8 }
			r.Value(&v)
		}, []string{"argument 1 (r): json: cannot unmarshal number 1000", " bytes left out) ... ", "int8"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newDecoder([]byte(tc.body), true)
			d.m = m
			if tc.read == nil {
				tc.read = readItem
			}
			tc.read(d.JSON())
			err := d.Finish()
			if err == nil {
				t.Fatal("the body decoded")
			}
			msg := err.Error()
			if n := len(msg); n > 512 {
				t.Errorf("the error of a %d-byte body is %d bytes long: %.160s ... %s", len(tc.body), n, msg, msg[n-80:])
			}
			for _, want := range tc.says {
				if !strings.Contains(msg, want) {
					t.Errorf("the error does not say %q:\n%.600s", want, msg)
				}
			}
		})
	}
}
