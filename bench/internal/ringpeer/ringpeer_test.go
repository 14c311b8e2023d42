package ringpeer

import (
	"context"
	"net"
	"testing"

	"github.com/ringrpc/ringrpc/bench/internal/greeter"
)

// BenchmarkEcho echoes the sample payload in one process: the allocations are the
// client's and the server's together.
func BenchmarkEcho(b *testing.B) {
	c := serveAndDial(b)
	p := greeter.Sample()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Echo(ctx, &p); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEchoParallel is BenchmarkEcho with 50 callers per GOMAXPROCS, client and
// server in one process: a profile of both halves of the bench's echo at 100 callers.
func BenchmarkEchoParallel(b *testing.B) {
	c := serveAndDial(b)
	b.ReportAllocs()
	b.SetParallelism(50)
	b.RunParallel(func(pb *testing.PB) {
		p := greeter.Sample()
		for pb.Next() {
			if _, err := c.Echo(context.Background(), &p); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// serveAndDial serves on a new port and returns a client of it; both stop when b ends.
func serveAndDial(b *testing.B) *Client {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	stop, err := Serve(ln)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(stop)
	c, err := Dial(ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	return c
}
