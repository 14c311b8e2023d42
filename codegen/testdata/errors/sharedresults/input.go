package sharedresults

import "context"

type A interface {
	BX(ctx context.Context) (int, string, error)
}

type AB interface {
	X(ctx context.Context) (int, string, error)
}
