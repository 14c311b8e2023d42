package sharedcycle

import "context"

// A cycle of 27 types, each reaching the next by two fields: looked through once per
// path to it, it would take 2^26 looks.
type T0 struct {
	A, B *T1
	C    chan int
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
	A, B *T20
}
type T20 struct {
	A, B *T21
}
type T21 struct {
	A, B *T22
}
type T22 struct {
	A, B *T23
}
type T23 struct {
	A, B *T24
}
type T24 struct {
	A, B *T25
}
type T25 struct {
	A, B *T26
}
type T26 struct {
	Back *T0
}

type Svc interface {
	Put(ctx context.Context, t T0) error
}
