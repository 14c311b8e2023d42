package sharedchain

import "context"

// A chain of types, each reaching the next by two fields, the last with a channel and
// a way back to the first: 2^19 paths lead to the channel, round a cycle, and it is
// reported once.

type T0 struct {
	A, B *T1
}

type T1 struct {
	A, B *T2
}

type T2 struct {
	A, B *T3
}

type T3 struct {
	A, B *T4
}

type T4 struct {
	A, B *T5
}

type T5 struct {
	A, B *T6
}

type T6 struct {
	A, B *T7
}

type T7 struct {
	A, B *T8
}

type T8 struct {
	A, B *T9
}

type T9 struct {
	A, B *T10
}

type T10 struct {
	A, B *T11
}

type T11 struct {
	A, B *T12
}

type T12 struct {
	A, B *T13
}

type T13 struct {
	A, B *T14
}

type T14 struct {
	A, B *T15
}

type T15 struct {
	A, B *T16
}

type T16 struct {
	A, B *T17
}

type T17 struct {
	A, B *T18
}

type T18 struct {
	A, B *T19
}

type T19 struct {
	C    chan int
	Back *T0
}

type Svc interface {
	Put(ctx context.Context, a T0) error
}
