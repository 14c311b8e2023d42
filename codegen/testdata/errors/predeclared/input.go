package predeclared

import "context"

// len shadows the predeclared len, which the generated code calls.
func len(s []string) int { return 0 }

// P has a slice parameter.
type P interface {
	Put(ctx context.Context, s []string) error
}
