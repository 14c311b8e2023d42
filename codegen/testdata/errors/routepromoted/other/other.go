// Package other has a struct that embeds a pointer to an unexported type.
package other

// User promotes ID through a pointer to inner.
type User struct {
	*inner
	Name string
}

type inner struct{ ID int }
