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
