package rawpeer

import (
	"bufio"
	"encoding/binary"
	"io"
	"net"
	"sync"
)

// maxFrame bounds a frame's length field.
const maxFrame = 1 << 20

// Serve answers every length-prefixed frame on ln with itself, flushing when its
// input buffer is empty, until stop is called.
func Serve(ln net.Listener) (stop func(), err error) {
	var (
		mu    sync.Mutex
		conns = map[net.Conn]bool{}
		wg    sync.WaitGroup
	)
	wg.Go(func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns[nc] = true
			mu.Unlock()
			wg.Go(func() {
				echo(nc)
				mu.Lock()
				delete(conns, nc)
				mu.Unlock()
			})
		}
	})
	return func() {
		ln.Close()
		mu.Lock()
		for nc := range conns {
			nc.Close()
		}
		mu.Unlock()
		wg.Wait()
	}, nil
}

// echo copies frames from nc back to nc until either side fails.
func echo(nc net.Conn) {
	defer nc.Close()
	br := bufio.NewReaderSize(nc, 64<<10)
	bw := bufio.NewWriterSize(nc, 64<<10)
	buf := make([]byte, 0, 1024)
	for {
		var pre [4]byte
		if _, err := io.ReadFull(br, pre[:]); err != nil {
			return
		}
		n := binary.BigEndian.Uint32(pre[:])
		if n > maxFrame {
			return
		}
		if cap(buf) < int(n) {
			buf = make([]byte, n)
		}
		buf = buf[:n]
		if _, err := io.ReadFull(br, buf); err != nil {
			return
		}
		bw.Write(pre[:])
		bw.Write(buf)
		if br.Buffered() == 0 && bw.Flush() != nil {
			return
		}
	}
}
