package rpc

import (
	"testing"
	"unsafe"
)

// Every call on a server makes a handler context: its size is paid per call.
func TestCallCtxSize(t *testing.T) {
	if n := unsafe.Sizeof(callCtx{}); n > 80 {
		t.Errorf("callCtx is %d bytes, want at most 80", n)
	}
}
