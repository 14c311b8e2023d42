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
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	stop, err := Serve(ln)
	if err != nil {
		b.Fatal(err)
	}
	defer stop()
	c, err := Dial(ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	p := greeter.Sample()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Echo(ctx, &p); err != nil {
			b.Fatal(err)
		}
	}
}
