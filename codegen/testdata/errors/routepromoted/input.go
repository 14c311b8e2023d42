package routepromoted

import (
	"context"

	"github.com/ringrpc/ringrpc/codegen/testdata/errors/routepromoted/other"
)

type Bad interface {
	//ringrpc:routekey u.ID
	Get(ctx context.Context, u other.User) (int, error)
}
