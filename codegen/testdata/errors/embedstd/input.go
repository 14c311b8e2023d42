package embedstd

import (
	"context"
	"fmt"
)

// Inner embeds fmt.Stringer in turn.
type Inner interface {
	fmt.Stringer
}

// S embeds fmt.Stringer, whose String method has no error result.
type S interface {
	fmt.Stringer
	Get(ctx context.Context) error
}

// T embeds it through Inner.
type T interface {
	Inner
	Put(ctx context.Context) error
}
