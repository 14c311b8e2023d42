package routetwice

import "context"

type Svc interface {
	// Get is routed by id, said twice.
	//
	//ringrpc:routekey id
	//ringrpc:routekey name
	Get(ctx context.Context, id, name string) (string, error)
}
