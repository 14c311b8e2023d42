// Package hello holds the seed services of the ringrpc example: plain Go interfaces
// from which ringrpc-gen writes the clients and dispatchers in hello_ringrpc.go.
package hello

import "context"

//go:generate go tool ringrpc-gen -type Hello,World

// Hello greets. Its methods are idempotent, so a call whose provider dies mid-call
// is sent again to the next provider on the ring.
type Hello interface {
	// SayHello returns "hello a b".
	//
	//ringrpc:idempotent
	SayHello(ctx context.Context, a, b string) (string, error)

	// SayHelloInteger returns 1000 + a + b.
	//
	//ringrpc:idempotent
	SayHelloInteger(ctx context.Context, a, b int) (int, error)

	// Greet greets a user. Calls for one user always land on the same provider: the
	// ring routes them by userID.
	//
	//ringrpc:routekey userID
	//ringrpc:idempotent
	Greet(ctx context.Context, userID string) (string, error)
}

// World is told things and answers nothing.
type World interface {
	// SayWorld is oneway: the provider logs "world a b".
	SayWorld(ctx context.Context, a, b string)
}
