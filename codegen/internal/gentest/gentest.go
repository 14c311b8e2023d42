// Package gentest holds interfaces whose generated code the tests compile and call
// over real TCP connections.
package gentest

import (
	"context"
	"time"
)

//go:generate go tool ringrpc-gen -type Hello,World,Kitchen,Codecs

// Hello is the seed service.
type Hello interface {
	SayHello(ctx context.Context, a, b string) (string, error)
	SayHelloInteger(ctx context.Context, a, b int) (int, error)
}

// World is oneway.
type World interface {
	SayWorld(ctx context.Context, a, b string)
}

// Celsius is a named float.
type Celsius float64

// Order is a struct that travels as JSON.
type Order struct {
	ID      int64             `json:"id"`
	Items   []string          `json:"items"`
	Placed  time.Time         `json:"placed"`
	Notes   map[string]string `json:"notes,omitempty"`
	Express *bool             `json:"express,omitempty"`
}

// Kitchen exercises the shapes the generator handles.
type Kitchen interface {
	NoContext(dish string) (string, error)
	Sum(ctx context.Context, label string, nums ...int) (string, int, error)
	Check(ctx context.Context, ok bool) error
	Heat(ctx context.Context, t Celsius, by float32) (Celsius, error)
	Bytes(ctx context.Context, b []byte) ([]byte, error)
	//ringrpc:routekey o.ID
	Place(ctx context.Context, o *Order) (Order, error)
	Tally(ctx context.Context, m map[string][]int) (map[string]int, error)
	Ring(bell string)
}
