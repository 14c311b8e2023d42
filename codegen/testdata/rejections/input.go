package rejections

import (
	"context"
	"image"
)

// K is a struct, which cannot key a JSON object.
type K struct{ A, B int }

// Empty has no methods.
type Empty interface{}

// Bad has methods the generator rejects.
type Bad interface {
	StructKey(ctx context.Context, m map[K]int) error
	OtherKey(ctx context.Context, m map[image.Point]int) error
	TwoErr(ctx context.Context) (error, error)
	Func(ctx context.Context, f func()) error
}
