package transport

import (
	"bytes"
	"context"
	"sync"
	"testing"
)

func TestWriteSize(t *testing.T) {
	for _, tc := range []struct{ n, want int }{
		{0, 0},
		{1, 0},
		{minPooledWrite, 0},
		{minPooledWrite + 1, 1},
		{2 * minPooledWrite, 1},
		{90 << 10, 5}, // a hundred echoes of 900 bytes: 128 KiB
		{16 << 20, pooledWriteSizes - 1},
		{16<<20 + 1, -1},
	} {
		if got := writeSize(tc.n); got != tc.want {
			t.Errorf("writeSize(%d) = %d, want %d", tc.n, got, tc.want)
		}
	}
}

func TestGrowWriteKeepsWhatWasWritten(t *testing.T) {
	var buf []byte
	for i := range 300 {
		buf = growWrite(buf, 1000)
		if c := cap(buf); c < minPooledWrite || c&(c-1) != 0 {
			t.Fatalf("grown to %d bytes: want a pooled size, a power of two of at least %d", c, minPooledWrite)
		}
		buf = append(buf, bytes.Repeat([]byte{byte(i)}, 1000)...)
	}
	for i := range 300 {
		if b := buf[i*1000 : (i+1)*1000]; !bytes.Equal(b, bytes.Repeat([]byte{byte(i)}, 1000)) {
			t.Fatalf("frame %d changed when the buffer grew", i)
		}
	}
	if big := growWrite(buf[:0], 32<<20); cap(big) != cap(buf) {
		t.Fatalf("a frame past every pooled size moved the buffer to %d bytes; append should grow it", cap(big))
	}
	putWrite(buf)
}

// An idle connection holds no write buffer, however large its last batch: the
// buffers went back to the pools.
func TestIdleConnectionHoldsNoWriteBuffer(t *testing.T) {
	_, addr := startServer(t, ServerOptions{}, func(s *Server) {
		must(t, s.RegisterProcessor(codeEcho, echo, PoolOptions{}))
	})
	cl := newTestClient(t, ClientOptions{})
	body := bytes.Repeat([]byte("x"), 900)
	var wg sync.WaitGroup
	for range 100 {
		wg.Go(func() {
			for range 20 {
				if _, err := cl.InvokeSync(context.Background(), addr, NewRequest(codeEcho, nil, body)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	c, err := cl.Conn(context.Background(), addr)
	must(t, err)
	c.w.mu.Lock()
	held := cap(c.w.queue.buf)
	c.w.mu.Unlock()
	if held != 0 {
		t.Fatalf("the idle connection holds a write buffer of %d bytes, want none", held)
	}
}

// A batch takes room for as much as the last one held at its first frame, but not for
// a huge frame's worth.
func TestWriteBatchGuessesItsSize(t *testing.T) {
	for _, tc := range []struct {
		name     string
		last     int
		wantRoom int
	}{
		{"a hundred echoes", 90 << 10, 128 << 10},
		{"one huge frame", 8 << 20, guessedBatch},
		{"nothing", 0, minPooledWrite},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := gatherConn(ConnOptions{Logger: quiet, MaxFrameSize: 16 << 20})
			c.w.lastTaken = tc.last
			if _, err := c.w.encodeLocked(&Command{Code: 1, Body: []byte("small")}, SerializeRocketMQ); err != nil {
				t.Fatal(err)
			}
			if got := cap(c.w.queue.buf); got != tc.wantRoom {
				t.Fatalf("after a batch of %d bytes, a small frame took a buffer of %d bytes, want %d", tc.last, got, tc.wantRoom)
			}
		})
	}
}
