package jsonquirks

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/ringrpc/ringrpc/rpc"
)

// A []byte read from an array of numbers is refilled from its first element as any
// slice is, and null leaves an element as it leaves an integer: encoding/json keeps
// the byte that was there, in the slice's length or in its capacity.
func TestByteSliceNullElementKeepsByte(t *testing.T) {
	for _, tc := range []struct {
		in   string
		fill func() Blobs
	}{
		{`{"b":[null]}`, func() Blobs { return Blobs{B: []byte("hello")} }},
		{`{"b":[1,null,3]}`, func() Blobs { return Blobs{B: []byte("hello")} }},
		{`{"b":[7,8],"b":[null,null]}`, func() Blobs { return Blobs{} }},
		{`{"b":"aGk=","b":[null]}`, func() Blobs { return Blobs{} }},
		{`{"r":[5],"r":[null]}`, func() Blobs { return Blobs{} }},
		{`{"bb":[[9]],"bb":[[null]]}`, func() Blobs { return Blobs{} }},
		{`{"b":[null,null]}`, func() Blobs { b := []byte("xyz"); return Blobs{B: b[:0]} }},
	} {
		got, want := tc.fill(), tc.fill()
		err := rpc.ReadJSON([]byte(tc.in), &got, quirksDecodeBlobs)
		stdErr := json.Unmarshal([]byte(tc.in), &want)
		if err != nil || stdErr != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\ngenerated:     %v %q %q %q\nencoding/json: %v %q %q %q", tc.in, err, got.B, got.R, got.BB, stdErr, want.B, want.R, want.BB)
		}
	}
}

// The string option reads a string from inside the JSON string as encoding/json
// does, which unquotes it without the scanner: it takes \' for a quote.
func TestQuotedStringApostropheEscape(t *testing.T) {
	for _, in := range []string{
		`{"s":"\"\\'\""}`,
		`{"s":"\"it\\'s\""}`,
		`{"t":"\"\\'0\""}`,
		`{"p":"\"\\'\""}`,
	} {
		var got, want Note
		err := rpc.ReadJSON([]byte(in), &got, quirksDecodeNote)
		stdErr := json.Unmarshal([]byte(in), &want)
		if (err == nil) != (stdErr == nil) || err == nil && !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\ngenerated:     %+v, %v\nencoding/json: %+v, %v", in, got, err, want, stdErr)
		}
	}
}

// A pointer to a struct and a pointer to its first field share an address but not a
// type. Below 1000 levels, where the encoder looks for cycles, encoding/json keys a
// pointer by its type and address and writes the value, which has no cycle.
func TestPointerToFirstFieldIsNoCycle(t *testing.T) {
	bottom := &Outer{In: Inner{N: 1}}
	bottom.PIn = &bottom.In // the address of bottom, as an *Inner
	top := bottom
	for range 1100 {
		top = &Outer{Next: top}
	}
	want, stdErr := json.Marshal(top)
	if stdErr != nil {
		t.Fatalf("encoding/json: %v", stdErr)
	}
	got, err := rpc.AppendJSON(nil, top, quirksEncodeOuter)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("generated: %v (%d bytes); encoding/json: no error (%d bytes)", err, len(got), len(want))
	}
}

// An empty slice that starts where a pointer above it points holds nothing, so no
// cycle: encoding/json keys a slice by its pointer and length, apart from pointers.
func TestEmptySliceAtPointerIsNoCycle(t *testing.T) {
	arr := make([]Tree, 1)
	bottom := &arr[0]
	bottom.Kids = arr[:0] // empty, and starts at bottom
	top := bottom
	for range 1100 {
		top = &Tree{Up: top}
	}
	want, stdErr := json.Marshal(top)
	if stdErr != nil {
		t.Fatalf("encoding/json: %v", stdErr)
	}
	got, err := rpc.AppendJSON(nil, top, quirksEncodeTree)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("generated: %v (%d bytes); encoding/json: no error (%d bytes)", err, len(got), len(want))
	}
}
