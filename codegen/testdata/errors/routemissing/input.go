package routemissing

import "context"

type Bad interface {
	//ringrpc:routekey user
	Get(ctx context.Context, id int) (int, error)
}
