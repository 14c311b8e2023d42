// Package jsonquirks holds types whose values reach corners where encoding/json's
// behaviour is easy to miss: byte slices refilled from number arrays, the string
// option's unquoting, and recursive values deep enough for the cycle check.
package jsonquirks

import "context"

//go:generate go tool ringrpc-gen -type Quirks

// Quirks carries the types.
type Quirks interface {
	Put(ctx context.Context, b Blobs) error
	Note(ctx context.Context, n Note) error
	Walk(ctx context.Context, o Outer) error
	Climb(ctx context.Context, t Tree) error
}

// Raw is a named []byte.
type Raw []byte

// Blobs has byte slices, named and not.
type Blobs struct {
	B  []byte   `json:"b"`
	R  Raw      `json:"r"`
	BB [][]byte `json:"bb"`
}

// Title is a named string.
type Title string

// Note has strings with the string option, by value, named and through a pointer.
type Note struct {
	S string  `json:"s,string"`
	T Title   `json:"t,string"`
	P *string `json:"p,string"`
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
