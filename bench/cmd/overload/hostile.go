package main

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/ringrpc/ringrpc/bench/internal/greeter"
	"github.com/ringrpc/ringrpc/rpc"
	"github.com/ringrpc/ringrpc/transport"
)

// behaviours are what a hostile connection does until it is closed.
var behaviours = map[string]func(net.Conn){
	"nonreading":      func(nc net.Conn) { nonReading(nc, hello(64)) },
	"nonreading-echo": func(nc net.Conn) { nonReading(nc, echo(64)) },
	"partial":         partial,
	"flood":           flood,
	spin:              nil,
}

// answered counts the responses the hostile connections read.
var answered atomic.Int64

// spin is the scenario that sends the provider nothing: the hostile process keeps
// every core of the machine busy, as the flood's own process does. What it costs the
// good client is what sharing the cores costs, whatever the provider does.
const spin = "spin"

// hostile dials n connections to addr, each running kind, until in ends. For each
// line read from in it writes to out how many responses its connections have read.
func hostile(kind, addr string, n int, in io.Reader, out io.Writer) error {
	var conns []net.Conn
	var wg sync.WaitGroup
	var stop atomic.Bool
	if kind == spin {
		n = 0
		for range runtime.GOMAXPROCS(0) {
			wg.Go(func() {
				for !stop.Load() {
				}
			})
		}
	}
	for range n {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			break // the provider's cap, or the machine's: measure with what we have
		}
		conns = append(conns, nc)
		wg.Go(func() { behaviours[kind](nc) })
	}
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		fmt.Fprintln(out, answered.Load())
	}
	stop.Store(true)
	for _, nc := range conns {
		nc.Close()
	}
	wg.Wait()
	return nil
}

// hello returns n SayHello request frames, as the generated client sends them.
func hello(n int) []byte { return requests(n, "SayHello", []byte(`["a","b"]`)) }

// echo returns n Echo request frames of the benchmark's payload, whose answers are
// some 800 bytes each.
func echo(n int) []byte {
	p := greeter.Sample()
	body, err := json.Marshal([]any{&p})
	if err != nil {
		panic(err)
	}
	return requests(n, "Echo", body)
}

// requests returns n request frames of method with body, as the generated client
// sends them.
func requests(n int, method string, body []byte) []byte {
	var b []byte
	for i := range n {
		req := transport.NewRequest(rpc.RequestCode, transport.Fields{
			{Key: rpc.HeaderInterface, Value: greeter.GreeterServiceName},
			{Key: rpc.HeaderMethod, Value: method},
		}, body)
		req.Opaque = int32(i)
		b, _ = transport.AppendFrame(b, req, transport.SerializeRocketMQ)
	}
	return b
}

// nonReading pipelines batch, requests, as fast as the socket takes it, and never
// reads.
func nonReading(nc net.Conn, batch []byte) {
	nc.(*net.TCPConn).SetReadBuffer(4 << 10)
	for {
		if _, err := nc.Write(batch); err != nil {
			return
		}
	}
}

// partial announces a frame of the maximum size, sends all of it but the last byte,
// and stalls.
func partial(nc net.Conn) {
	frame := hello(1)
	n := transport.DefaultMaxFrameSize - 4
	binary.BigEndian.PutUint32(frame, uint32(n))
	rest := n + 4 - len(frame) - 1
	if _, err := nc.Write(frame); err != nil {
		return
	}
	zeros := make([]byte, 64<<10)
	for rest > 0 {
		k, err := nc.Write(zeros[:min(len(zeros), rest)])
		if err != nil {
			return
		}
		rest -= k
	}
	nc.Read(make([]byte, 1)) // stalled until closed
}

// flood sends requests a window at a time and reads every answer, as fast as the
// provider answers.
func flood(nc net.Conn) {
	const window = 32
	batch := hello(window)
	br := bufio.NewReaderSize(nc, 16<<10)
	var pre [4]byte
	for {
		if _, err := nc.Write(batch); err != nil {
			return
		}
		for range window {
			if _, err := io.ReadFull(br, pre[:]); err != nil {
				return
			}
			if _, err := br.Discard(int(binary.BigEndian.Uint32(pre[:]))); err != nil {
				return
			}
			answered.Add(1)
		}
	}
}
