// Package z is internal to package other.
package z

// T is exported from an internal package.
type T struct{ A int }

// E is embedded by pointer in other.Wrap.
type E struct{ B int }
