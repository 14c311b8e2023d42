package rpc

import (
	"context"
	"runtime"
	"testing"
	"time"
	"unsafe"
)

// Every call on a server makes a handler context: its size is paid per call.
func TestCallCtxSize(t *testing.T) {
	if n := unsafe.Sizeof(callCtx{}); n > 80 {
		t.Errorf("callCtx is %d bytes, want at most 80", n)
	}
}

// A handler context's Err stays nil until its Done channel is closed, however its end
// and Err interleave, as the context package requires.
func TestCallCtxErrAfterDone(t *testing.T) {
	for i := range 20000 {
		c := newCallCtx(context.Background(), time.Time{}, nil, "")
		done := c.Done()
		released := make(chan struct{})
		go func() {
			c.release()
			close(released)
		}()
		for c.Err() == nil {
			runtime.Gosched()
		}
		select {
		case <-done:
		default:
			t.Fatalf("try %d: Err returned %v while Done was still open", i, c.Err())
		}
		<-released
	}
}
