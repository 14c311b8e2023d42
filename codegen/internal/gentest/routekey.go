package gentest

import "context"

//go:generate go tool ringrpc-gen -type Teams

// Org is embedded by pointer in Team.
type Org struct{ Slug string }

// Team promotes its Org's Slug, through a pointer that may be nil.
type Team struct {
	*Org
	Name string
}

// Teams is routed by a field promoted through an embedded pointer.
type Teams interface {
	//ringrpc:routekey t.Slug
	Join(ctx context.Context, t Team) error
}
