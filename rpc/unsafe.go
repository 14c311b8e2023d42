package rpc

import "unsafe"

func sizeofValue[T any](v T) uintptr { return unsafe.Sizeof(v) }

// bytesString views b as a string without a copy, for strconv's parsers, which keep
// nothing of their argument (their errors hold a copy).
func bytesString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
