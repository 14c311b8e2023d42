package sharedtype

import "context"

type Pipe chan int

// Every field that cannot travel is reported, also when two share one type.
type Bad struct {
	A, B chan int
	C    Pipe
	D    Pipe
	E    map[string]Pipe
}

type Svc interface {
	Put(ctx context.Context, b Bad) error
}
