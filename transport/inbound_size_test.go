package transport

import (
	"testing"
	"unsafe"
)

// Every request has a context: its size is paid per call.
func TestRequestCtxSize(t *testing.T) {
	if n := unsafe.Sizeof(requestCtx{}); n > 24 {
		t.Errorf("requestCtx is %d bytes, want at most 24", n)
	}
}
