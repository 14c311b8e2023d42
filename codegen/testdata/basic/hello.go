// Package basic holds the interfaces of the README.
package basic

import "context"

type Hello interface {
	SayHello(ctx context.Context, a, b string) (string, error)
	SayHelloInteger(ctx context.Context, a, b int) (int, error)
}

type World interface {
	SayWorld(ctx context.Context, a, b string)
}
