// Package own is internal to package unnameable, which may import it.
package own

// T is a plain struct.
type T struct{ A int }
