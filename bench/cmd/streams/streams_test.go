package main

import (
	"context"
	"net"
	"testing"

	"github.com/ringrpc/ringrpc/bench/internal/load"
)

// TestStacks checks each stack's streams in one process: the ticks arrive in order and
// the ping-pong echoes every round.
func TestStacks(t *testing.T) {
	for _, p := range stacks {
		t.Run(p.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			stop, err := p.serve(ln)
			if err != nil {
				t.Fatal(err)
			}
			defer stop()
			c, err := p.dial(ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := streamRate(context.Background(), c, 4, 4000); err != nil {
				t.Fatal(err)
			}
			var h load.Histogram
			if err := c.PingPong(context.Background(), 100, &h); err != nil {
				t.Fatal(err)
			}
			if h.Count() != 100 {
				t.Fatalf("%d rounds timed, want 100", h.Count())
			}
		})
	}
}
