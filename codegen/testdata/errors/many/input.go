package many

import "context"

type Bad interface {
	A(ctx context.Context, c chan int) error
	B(ctx context.Context) int
}

type Worse interface {
	//ringrpc:retry
	C(ctx context.Context) error
}
