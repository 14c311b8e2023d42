// Package shadow declares names that the generated code uses for its own locals and
// functions: types d and res, a constant max, a function named like a codec.
package shadow

import "context"

const max = 10

type res struct{ A int }

type d struct{ B int }

// ctx is a type named like the context parameter.
type ctx struct{ C []d }

// Item is sent in a slice.
type Item struct{ V string }

// sEncodeSliceItem is a function of the package's own, named like a generated codec.
func sEncodeSliceItem() {}

// S uses them.
type S interface {
	List(c context.Context, items []Item) ([]Item, error)
	Res(c context.Context, r res) (d, error)
	Ctx(c context.Context, x ctx, v map[string]*d) (*ctx, res, error)
}
