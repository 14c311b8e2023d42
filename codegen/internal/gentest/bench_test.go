package gentest

import (
	"context"
	"testing"

	"github.com/ringrpc/ringrpc/rpc"
)

// handHello calls SayHello through the runtime directly, as a hand-written
// descriptor would: the baseline the generated client is measured against.
func handHello(c *rpc.Client, ctx context.Context, a, b string) (string, error) {
	call := c.NewCall(&HelloServiceDesc, 0)
	call.Args.String(a)
	call.Args.String(b)
	d, err := c.Invoke(ctx, call)
	if err != nil {
		return "", err
	}
	var s string
	d.String(&s)
	return s, d.Finish()
}

// BenchmarkHello compares a generated call with a hand-written one over the same
// in-process server: the allocations per call must be the same.
func BenchmarkHello(b *testing.B) {
	addr, _ := serve(b)
	c := client(b, addr)
	ctx := context.Background()
	h := NewHelloClient(c)
	b.Run("generated", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := h.SayHello(ctx, "a", "b"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("handwritten", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := handHello(c, ctx, "a", "b"); err != nil {
				b.Fatal(err)
			}
		}
	})
}
