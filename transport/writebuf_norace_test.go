//go:build !race

package transport

import "testing"

// A busy connection's batches reuse pooled buffers: growing one to a hundred 900-byte
// frames and giving it back allocates nothing once the pools hold a buffer. (The race
// detector has sync.Pool drop items at random.)
func TestWriteBuffersAreReused(t *testing.T) {
	frame := make([]byte, 900)
	batch := func() {
		var buf []byte
		for range 100 {
			buf = append(growWrite(buf, len(frame)), frame...)
		}
		putWrite(buf)
	}
	batch()
	if n := testing.AllocsPerRun(100, batch); n != 0 {
		t.Fatalf("a batch of a hundred frames allocated %v times, want 0", n)
	}
}
