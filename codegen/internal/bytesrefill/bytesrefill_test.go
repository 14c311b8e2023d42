package bytesrefill

import (
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
		err := rpc.ReadJSON([]byte(tc.in), &got, storeDecodeBlobs)
		stdErr := json.Unmarshal([]byte(tc.in), &want)
		if err != nil || stdErr != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\ngenerated:     %v %q %q %q\nencoding/json: %v %q %q %q", tc.in, err, got.B, got.R, got.BB, stdErr, want.B, want.R, want.BB)
		}
	}
}
