package manyfields

import (
	"context"
	"unsafe"
)

type Bad struct {
	A  chan int
	B  func()
	C  complex64
	D  unsafe.Pointer
	E  interface{ M() }
	F  map[[2]int]string
	OK string
}

type Svc interface {
	Put(ctx context.Context, b Bad, c chan int) error
	Get(ctx context.Context) (complex128, error)
}
