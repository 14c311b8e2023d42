package idemarg

import "context"

type Svc interface {
	//ringrpc:idempotent yes please
	Get(ctx context.Context, id string) (string, error)
}
