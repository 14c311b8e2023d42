package transport

import (
	"testing"
	"unsafe"
)

// Every request has a context: its size is paid per call.
func TestRequestCtxSize(t *testing.T) {
	if n := unsafe.Sizeof(requestCtx{}); n > 32 {
		t.Errorf("requestCtx is %d bytes, want at most 32", n)
	}
}
