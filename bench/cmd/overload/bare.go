package main

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"runtime"
	"sync"

	"github.com/ringrpc/ringrpc/transport"
)

// provideBare serves SayHello as the least a Go server can do: a goroutine per
// connection that reads a frame, answers it on the spot and writes the answers once
// it has no more requests buffered. With yield it gives up its turn after each
// request, so that connections take turns a request at a time. It stands beside the
// provider to tell what ringrpc costs under a flood from what Go's runtime does.
func provideBare(yield bool, in io.Reader, out io.Writer) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Go(func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, nc)
			mu.Unlock()
			wg.Go(func() { serveBare(nc, yield) })
		}
	})
	fmt.Fprintln(out, ln.Addr())
	for sc := bufio.NewScanner(in); sc.Scan(); {
		fmt.Fprintf(out, "%d %d\n", peakRSS(), runtime.NumGoroutine())
	}
	ln.Close()
	mu.Lock()
	for _, nc := range conns {
		nc.Close()
	}
	mu.Unlock()
	wg.Wait()
	return nil
}

func serveBare(nc net.Conn, yield bool) {
	br := bufio.NewReaderSize(nc, 16<<10)
	bw := bufio.NewWriterSize(nc, 16<<10)
	var pre [4]byte
	var frame, wire []byte
	for {
		if _, err := io.ReadFull(br, pre[:]); err != nil {
			return
		}
		n := int(binary.BigEndian.Uint32(pre[:]))
		frame = append(frame[:0], pre[:]...)
		frame = append(frame, make([]byte, n)...)
		if _, err := io.ReadFull(br, frame[4:]); err != nil {
			return
		}
		req, _, err := transport.ParseFrame(frame, transport.DefaultMaxFrameSize)
		if err != nil {
			return
		}
		resp := transport.NewResponse(req, 0, "")
		resp.Body = []byte(`"hello"`)
		if wire, err = transport.AppendFrame(wire[:0], resp, transport.SerializeRocketMQ); err != nil {
			return
		}
		bw.Write(wire)
		if br.Buffered() == 0 {
			if bw.Flush() != nil {
				return
			}
		} else if yield {
			runtime.Gosched()
		}
	}
}
