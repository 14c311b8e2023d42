package usesgenerated

import "context"

// Req holds a type that only b_ringrpc.go, an earlier output, declares.
type Req struct {
	N int
	R BAsync
}

// A uses it, in a field and as a parameter.
type A interface {
	Put(ctx context.Context, r Req) error
	Take(ctx context.Context, b BAsync) error
}
