package cyclekey

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/ringrpc/ringrpc/rpc"
)

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
	got, err := rpc.AppendJSON(nil, top, walkerEncodeOuter)
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
	got, err := rpc.AppendJSON(nil, top, walkerEncodeTree)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("generated: %v (%d bytes); encoding/json: no error (%d bytes)", err, len(got), len(want))
	}
}
