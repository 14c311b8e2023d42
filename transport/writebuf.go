package transport

import (
	"math/bits"
	"sync"
	"unsafe"
)

// A connection's write buffers come from pools by size and go back once written, so
// that an idle connection holds no write buffer, and a busy one neither grows a
// buffer from nothing each round nor leaves the garbage of growing it: with a hundred
// callers echoing 800 bytes, growing made half of all the bytes allocated per call.
// A pooled buffer nobody takes is freed by the garbage collector.
const (
	minPooledWrite   = 4 << 10
	pooledWriteSizes = 13 // minPooledWrite up to 4096 times that: 16 MiB
	// guessedBatch bounds the room a batch takes at its first frame, from the size of
	// the last one.
	guessedBatch = 256 << 10
)

// pooledWrites holds, per size, the first byte of free buffers of that capacity: a
// pointer fits an interface without an allocation.
var pooledWrites [pooledWriteSizes]sync.Pool

// writeSize returns the index of the smallest pooled size of at least n bytes, or -1
// when none is.
func writeSize(n int) int {
	if n <= minPooledWrite {
		return 0
	}
	i := bits.Len(uint(n-1)) - bits.Len(uint(minPooledWrite-1))
	if i >= pooledWriteSizes {
		return -1
	}
	return i
}

// growWrite returns buf with room for n more bytes, moving it to a pooled buffer when
// it has to grow.
func growWrite(buf []byte, n int) []byte {
	want := len(buf) + n
	if cap(buf) >= want {
		return buf
	}
	i := writeSize(want)
	if i < 0 {
		return buf // larger than any pooled size: append grows it
	}
	var nb []byte
	if p, _ := pooledWrites[i].Get().(*byte); p != nil {
		nb = unsafe.Slice(p, minPooledWrite<<i)[:len(buf)]
	} else {
		nb = make([]byte, len(buf), minPooledWrite<<i)
	}
	copy(nb, buf)
	putWrite(buf)
	return nb
}

// putWrite pools buf when it has a pooled size; its contents are dead.
func putWrite(buf []byte) {
	c := cap(buf)
	if c < minPooledWrite {
		return
	}
	if i := writeSize(c); i >= 0 && minPooledWrite<<i == c {
		pooledWrites[i].Put(unsafe.SliceData(buf[:c]))
	}
}
