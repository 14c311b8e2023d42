// Package cyclekey holds recursive types whose values nest deep enough for the
// generated encoder to look for cycles, where two references share an address
// without a cycle.
package cyclekey

import "context"

//go:generate go tool ringrpc-gen -type Walker

// Walker carries the recursive types.
type Walker interface {
	Walk(ctx context.Context, o Outer) error
	Climb(ctx context.Context, t Tree) error
}

// Outer holds an Inner by value, and may point at it.
type Outer struct {
	In   Inner  `json:"in"`
	PIn  *Inner `json:"pin,omitempty"`
	Next *Outer `json:"next,omitempty"`
}

// Inner leads back to Outer.
type Inner struct {
	N    int    `json:"n"`
	Back *Outer `json:"back,omitempty"`
}

// Tree recurs through a slice and a pointer.
type Tree struct {
	Name string `json:"name,omitempty"`
	Kids []Tree `json:"kids"`
	Up   *Tree  `json:"up,omitempty"`
}
