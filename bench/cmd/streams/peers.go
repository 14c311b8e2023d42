package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"time"

	"github.com/ringrpc/ringrpc/bench/internal/grpcpeer"
	"github.com/ringrpc/ringrpc/bench/internal/load"
	"github.com/ringrpc/ringrpc/bench/internal/ringpeer"
	"github.com/ringrpc/ringrpc/bench/internal/ticker"
	"github.com/ringrpc/ringrpc/rpc"
	"github.com/ringrpc/ringrpc/transport"
)

// client is a connected client of one stack's Ticker service.
type client interface {
	// Ticks receives a server stream of n ticks and checks them.
	Ticks(ctx context.Context, n int) error
	// PingPong makes rounds round trips on one bidirectional stream, recording each.
	PingPong(ctx context.Context, rounds int, h *load.Histogram) error
	Close() error
}

// peer is one stack: how to serve the Ticker service and how to call it.
type peer struct {
	name  string
	serve func(ln net.Listener) (stop func(), err error)
	dial  func(addr string) (client, error)
}

var stacks = []peer{
	{name: "ringrpc", serve: serveRing, dial: dialRing},
	{name: "gRPC", serve: grpcpeer.ServeTicker, dial: dialGRPC},
}

func lookup(name string) (peer, error) {
	for _, p := range stacks {
		if p.name == name {
			return p, nil
		}
	}
	return peer{}, fmt.Errorf("no peer named %q", name)
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func serveRing(ln net.Listener) (func(), error) {
	return ringpeer.ServeWith(ln, func(s *rpc.Server) error { return ticker.RegisterTickerServer(s, ticker.Impl{}) })
}

type ringClient struct {
	c *rpc.Client
	t ticker.Ticker
}

func dialRing(addr string) (client, error) {
	c, err := rpc.NewClient(rpc.ClientOptions{Resolver: rpc.StaticAddress(addr), Transport: transport.ClientOptions{ConnOptions: transport.ConnOptions{Logger: quiet}}})
	if err != nil {
		return nil, err
	}
	return &ringClient{c: c, t: ticker.NewTickerClient(c)}, nil
}

func (r *ringClient) Close() error { return r.c.Close() }

func (r *ringClient) Ticks(ctx context.Context, n int) error {
	want := int64(1)
	for t, err := range r.t.Ticks(ctx, n) {
		if err != nil {
			return err
		}
		if t.Seq != want {
			return fmt.Errorf("ringrpc ticks: tick %d where %d was due", t.Seq, want)
		}
		want++
	}
	if want != int64(n)+1 {
		return fmt.Errorf("ringrpc ticks: %d ticks, want %d", want-1, n)
	}
	return nil
}

// PingPong sends each tick from the range loop's body, through the iterator the
// stream reads its input from, and times its echo.
func (r *ringClient) PingPong(ctx context.Context, rounds int, h *load.Histogram) error {
	out := make(chan ticker.Tick, 1)
	in := func(yield func(ticker.Tick) bool) {
		for t := range out {
			if !yield(t) {
				return
			}
		}
	}
	defer close(out)
	out <- ticker.Tick{Seq: 1, Note: ticker.Note}
	start := time.Now()
	seq := int64(1)
	for t, err := range r.t.PingPong(ctx, in) {
		if err != nil {
			return err
		}
		h.Record(time.Since(start))
		if t.Seq != seq {
			return fmt.Errorf("ringrpc ping-pong: echo %d of %d", t.Seq, seq)
		}
		if seq == int64(rounds) {
			return nil
		}
		seq++
		start = time.Now()
		out <- ticker.Tick{Seq: seq, Note: ticker.Note}
	}
	return fmt.Errorf("ringrpc ping-pong: the stream ended after %d rounds", seq-1)
}

type grpcClient struct{ c *grpcpeer.TickerClient }

func dialGRPC(addr string) (client, error) {
	c, err := grpcpeer.DialTicker(addr)
	if err != nil {
		return nil, err
	}
	return grpcClient{c}, nil
}

func (g grpcClient) Close() error                           { return g.c.Close() }
func (g grpcClient) Ticks(ctx context.Context, n int) error { return g.c.Ticks(ctx, n) }

func (g grpcClient) PingPong(ctx context.Context, rounds int, h *load.Histogram) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	p, err := g.c.PingPong(ctx)
	if err != nil {
		return err
	}
	defer p.Close()
	for i := 1; i <= rounds; i++ {
		start := time.Now()
		if err := p.Round(int64(i)); err != nil {
			return err
		}
		h.Record(time.Since(start))
	}
	return nil
}
