// Package clash uses names the generated code also needs.
package clash

import (
	"context"
	neturl "net/url"
	"time"

	"github.com/ringrpc/ringrpc/codegen/testdata/clash/url"
)

// rpc is a package-level name that pushes the rpc import to another name.
var rpc = 1

// Clash has parameters named like the generated code's variables and packages.
type Clash interface {
	Names(ctx context.Context, c, err, req, resp, call, d, args, res, impl, x, s, f, r0 string) (string, error)
	Packages(ctx context.Context, time time.Duration, context string, u *url.URL, nu *neturl.URL) (time.Duration, error)
	Keywords(ctx context.Context, _ int, _ string, a0 bool) (r1 string, r0 int, err error)
	// c and c_ are named like the field the clients keep their *rpc.Client in.
	c(ctx context.Context) error
	c_(ctx context.Context) error
}
