// Package other declares an interface embedded from another package.
package other

import "context"

// Pinger answers pings.
type Pinger interface {
	Ping(ctx context.Context) (string, error)
}
