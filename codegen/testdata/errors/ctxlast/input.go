package ctxlast

import "context"

type Bad interface {
	Put(v int, ctx context.Context) error
}
