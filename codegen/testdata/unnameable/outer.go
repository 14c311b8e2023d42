package unnameable

import (
	"context"

	"github.com/ringrpc/ringrpc/codegen/testdata/unnameable/other"
)

// Fields takes a struct of another package whose exported fields hold an unexported
// type in a slice, an array, a pointer and a map.
type Fields interface {
	Put(ctx context.Context, o other.Outer) error
}
