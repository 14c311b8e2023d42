// Package directives uses the directives of doc comments.
package directives

import "context"

// User is keyed by its ID.
type User struct {
	ID   int64
	Name string
	Org  *Org
}

// Org is reached through a pointer.
type Org struct{ Slug string }

// Accounts overrides its service name.
//
//ringrpc:service shop.Accounts
type Accounts interface {
	// Greet is routed by the user's name.
	//
	//ringrpc:routekey userName
	Greet(ctx context.Context, userName string, greeting string) (string, error)

	//ringrpc:routekey u.ID
	//ringrpc:idempotent
	Load(ctx context.Context, u *User) (User, error)

	//ringrpc:routekey u.Org.Slug
	Move(ctx context.Context, u User, to string) error

	//ringrpc:routekey id
	ByID(ctx context.Context, id uint32) (User, error)

	//ringrpc:routekey u
	Whole(ctx context.Context, u User) error
}
