package sharedtype

import "context"

type Pipe chan int

// Each type that cannot travel is reported once, at the first field that reaches it.
type Bad struct {
	A, B chan int
	C    Pipe
	D    Pipe
	E    map[string]Pipe
}

type Svc interface {
	Put(ctx context.Context, b Bad) error
}
