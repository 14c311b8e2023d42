// Package shapes covers the parameter and result shapes the generator handles.
package shapes

import (
	"context"
	"encoding/json"
	"net/netip"
	"time"
)

// UserID is a named string.
type UserID string

// Level is a named integer.
type Level uint8

// Blob is a named []byte.
type Blob []byte

// Point is a struct with tags and unexported fields.
type Point struct {
	X, Y   float64
	Label  string `json:"label,omitempty"`
	hidden chan int
	Skip   func() `json:"-"`
}

// Octet is a named byte: a slice of them is base64, as a []byte is.
type Octet byte

// Tree refers to itself: its encoder looks for cycles.
type Tree struct {
	Name string
	Kids []*Tree
	Up   *Tree
}

// Moment aliases time.Time.
type Moment = time.Time

// Shapes has one method per shape.
type Shapes interface {
	// No context: the client uses its default timeout.
	NoContext(a string) (string, error)
	Variadic(ctx context.Context, prefix string, nums ...int) (int, error)
	Unnamed(context.Context, string, int) error
	Several(ctx context.Context) (name string, age int, ok bool, err error)
	ErrorOnly(ctx context.Context) error
	Named(ctx context.Context, id UserID, lvl Level, blob Blob) (UserID, error)
	Floats(ctx context.Context, f32 float32, f64 float64) (float64, error)
	Containers(ctx context.Context, p *Point, ps []Point, arr [3]int, m map[string][]int, mi map[int]Point) (map[UserID]*Point, error)
	Bytes(ctx context.Context, b []byte) ([]byte, error)
	Stdlib(ctx context.Context, t time.Time, d time.Duration, addr netip.Addr, raw json.RawMessage) (Moment, error)
	Anything(ctx context.Context, v any, vs []any) (any, error)
	Special(ctx context.Context, n json.Number, octets []Octet, t *Tree) (json.Number, error)
	Oneway(ctx context.Context, msg string)
	OnewayNoContext(msg string)
}
