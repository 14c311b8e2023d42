// Package embedded flattens embedded interfaces.
package embedded

import (
	"context"
	"io"

	"github.com/ringrpc/ringrpc/codegen/testdata/embedded/other"
)

// Reader reads.
type Reader interface {
	//ringrpc:idempotent
	Read(ctx context.Context, key string) ([]byte, error)
}

// Store embeds interfaces from this package, another and the standard library.
type Store interface {
	Reader
	other.Pinger
	io.Closer
	Write(ctx context.Context, key string, value []byte) error
}
