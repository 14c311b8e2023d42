// Package bytesrefill holds []byte fields that JSON arrays of numbers refill.
package bytesrefill

import "context"

//go:generate go tool ringrpc-gen -type Store

// Store carries the byte slices.
type Store interface {
	Put(ctx context.Context, b Blobs) error
}

// Raw is a named []byte.
type Raw []byte

// Blobs has byte slices, named and not.
type Blobs struct {
	B  []byte   `json:"b"`
	R  Raw      `json:"r"`
	BB [][]byte `json:"bb"`
}
