package rejections

import (
	"context"
	"image"
)

// K is a struct, which cannot key a JSON object.
type K struct{ A, B int }

// JK has JSON methods only, which encoding/json does not use for map keys.
type JK struct{ A int }

func (JK) MarshalJSON() ([]byte, error) { return []byte(`"a"`), nil }

func (*JK) UnmarshalJSON([]byte) error { return nil }

// MK can be written as a key but not read back.
type MK struct{ A int }

func (MK) MarshalText() ([]byte, error) { return []byte("a"), nil }

// TK keys a JSON object both ways.
type TK struct{ A int }

func (TK) MarshalText() ([]byte, error) { return []byte("a"), nil }

func (*TK) UnmarshalText([]byte) error { return nil }

// SK is a string kind with JSON methods: encoding/json uses the string itself.
type SK string

func (SK) MarshalJSON() ([]byte, error) { return []byte(`"a"`), nil }

// Good has maps whose keys encoding/json round-trips.
type Good interface {
	TextKey(ctx context.Context, m map[TK]int) error
	StringKindKey(ctx context.Context, m map[SK]int) error
}

// Empty has no methods.
type Empty interface{}

// Bad has methods the generator rejects.
type Bad interface {
	StructKey(ctx context.Context, m map[K]int) error
	OtherKey(ctx context.Context, m map[image.Point]int) error
	TwoErr(ctx context.Context) (error, error)
	Func(ctx context.Context, f func()) error
	JSONKey(ctx context.Context, m map[JK]int) error
	HalfTextKey(ctx context.Context, m map[MK]int) error
}
