package unnameable

import (
	"context"

	"github.com/ringrpc/ringrpc/codegen/testdata/unnameable/other"
)

// Internal takes structs of another package whose fields' element types, or an
// embedded pointer's, live in a package internal to that one.
type Internal interface {
	Put(ctx context.Context, p other.Pub) error
	Wrap(ctx context.Context, w other.Wrap) error
}
