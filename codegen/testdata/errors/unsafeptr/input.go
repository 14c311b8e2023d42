package unsafeptr

import "unsafe"

type Bad interface {
	Put(p unsafe.Pointer) error
}
