package spaceddirective

import "context"

type Bad interface {
	// ringrpc:routekey name
	Get(ctx context.Context, name string) (int, error)
}
