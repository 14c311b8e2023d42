package recursivebad

import "context"

// A recursive type with a field that cannot travel, reached twice in one parameter:
// reported once.
type Node struct {
	Kids []Node
	C    chan int
}

type Bad struct {
	N Node
	M []Node
}

type Svc interface {
	Put(ctx context.Context, b Bad) error
}
