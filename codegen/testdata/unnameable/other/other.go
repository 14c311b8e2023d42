// Package other declares exported types whose exported fields have types the
// generated code of another package cannot spell.
package other

import (
	"github.com/ringrpc/ringrpc/codegen/testdata/unnameable/internal/own"
	"github.com/ringrpc/ringrpc/codegen/testdata/unnameable/other/internal/z"
)

type inner struct{ A int }

type key string

// Pair is exported all the way down: it keeps its generated codec.
type Pair struct{ A, B int }

// Outer has exported fields of an unexported type, in a slice, an array, a pointer,
// a map's values and a map's keys, beside fields the output can spell.
type Outer struct {
	L  []inner
	A  [2]inner
	P  *inner
	M  map[string]inner
	K  map[key]int
	Ps []Pair
}

// List is a slice of an unexported type.
type List []inner

// Pub has a field whose element type lives in a package internal to this one, and
// one in a package internal to its importer's, which that importer may name.
type Pub struct {
	Zs  []z.T
	Own []own.T
}

// Wrap embeds a pointer to a struct of a package internal to this one: its decoder
// would have to allocate one.
type Wrap struct {
	*z.E
}
