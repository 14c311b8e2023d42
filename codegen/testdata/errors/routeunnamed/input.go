package routeunnamed

import "context"

type Svc interface {
	//ringrpc:routekey id
	Get(context.Context, string) (string, error)
}
