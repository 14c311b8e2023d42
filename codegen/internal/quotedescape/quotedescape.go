// Package quotedescape holds string fields with the string option.
package quotedescape

import "context"

//go:generate go tool ringrpc-gen -type Notes

// Notes carries the fields.
type Notes interface {
	Put(ctx context.Context, n Note) error
}

// Title is a named string.
type Title string

// Note has strings with the string option, by value, named and through a pointer.
type Note struct {
	S string  `json:"s,string"`
	T Title   `json:"t,string"`
	P *string `json:"p,string"`
}
