package unnameable

import (
	"context"

	"github.com/ringrpc/ringrpc/codegen/testdata/unnameable/other"
)

// Named takes an exported slice type of another package whose element type is
// unexported.
type Named interface {
	Put(ctx context.Context, l other.List) error
}
