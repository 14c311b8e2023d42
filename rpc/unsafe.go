package rpc

import "unsafe"

func sizeofValue[T any](v T) uintptr { return unsafe.Sizeof(v) }
