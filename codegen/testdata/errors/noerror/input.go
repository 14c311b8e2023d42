package noerror

import "context"

type Bad interface {
	Get(ctx context.Context) string
}
