// Package kitexpeer serves and calls greeter.Greeter with CloudWeGo Kitex: Thrift with
// the codecs Kitex's own generator wrote (kitex_gen, from greeter.thrift), over one
// multiplexed connection (Kitex's mux transport, TTHeader framing).
package kitexpeer

//go:generate go tool kitex -module github.com/ringrpc/ringrpc/bench -gen-path kitex_gen greeter.thrift

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync/atomic"
	"time"

	"github.com/bytedance/gopkg/util/gopool"
	"github.com/cloudwego/kitex/client"
	"github.com/cloudwego/kitex/pkg/klog"
	"github.com/cloudwego/kitex/server"

	"github.com/ringrpc/ringrpc/bench/internal/greeter"
	kg "github.com/ringrpc/ringrpc/bench/internal/kitexpeer/kitex_gen/greeter"
	kgs "github.com/ringrpc/ringrpc/bench/internal/kitexpeer/kitex_gen/greeter/greeter"
)

func init() {
	klog.SetLevel(klog.LevelFatal) // Kitex logs every connection otherwise
	// Kitex's mux client (v0.15.2 to v0.16.3) panics decoding what a stopping server
	// sends it, in a pool that recovers and prints the whole stack: one line, once,
	// says it.
	var said atomic.Bool
	gopool.SetPanicHandler(func(_ context.Context, r any) {
		if !said.Swap(true) {
			fmt.Fprintf(os.Stderr, "kitexpeer: a Kitex pool goroutine panicked and was recovered (its mux client does as its server stops; not said again): %v\n", r)
		}
	})
}

// handler is the provider: it answers as greeter.Impl does, on Thrift types.
type handler struct{}

func (handler) SayHello(ctx context.Context, a, b string) (string, error) {
	return greeter.Impl{}.SayHello(ctx, a, b)
}

func (handler) Echo(_ context.Context, p *kg.Payload) (*kg.Payload, error) {
	if p == nil {
		return &kg.Payload{}, nil
	}
	return p, nil
}

// Serve serves the handler on ln until stop is called.
func Serve(ln net.Listener) (stop func(), err error) {
	s := kgs.NewServer(&handler{}, server.WithListener(ln), server.WithMuxTransport(),
		server.WithExitWaitTime(time.Second))
	done := make(chan error, 1)
	go func() { done <- s.Run() }()
	return func() {
		_ = s.Stop()
		<-done
	}, nil
}

// Client calls greeter.Greeter through the Kitex client.
type Client struct{ c kgs.Client }

// Dial returns a client of the server at addr over one multiplexed connection.
func Dial(addr string) (*Client, error) {
	c, err := kgs.NewClient("greeter", client.WithHostPorts(addr), client.WithMuxConnection(1),
		client.WithRPCTimeout(10*time.Second))
	if err != nil {
		return nil, err
	}
	return &Client{c}, nil
}

// SayHello calls Greeter.SayHello.
func (c *Client) SayHello(ctx context.Context, a, b string) (string, error) {
	return c.c.SayHello(ctx, a, b)
}

// Echo calls Greeter.Echo, converting the payload to its Thrift type and back.
func (c *Client) Echo(ctx context.Context, p *greeter.Payload) (greeter.Payload, error) {
	if p == nil {
		return greeter.Payload{}, errors.New("kitexpeer: nil payload")
	}
	r, err := c.c.Echo(ctx, toThrift(p))
	if err != nil {
		return greeter.Payload{}, err
	}
	return fromThrift(r), nil
}

// Close releases the client. Kitex's clients close their connections when collected.
func (c *Client) Close() error { return nil }

func toThrift(p *greeter.Payload) *kg.Payload {
	return &kg.Payload{
		Id: p.ID, Name: p.Name, Email: p.Email, Active: p.Active, Score: p.Score, Age: p.Age,
		Country: p.Country, City: p.City, Street: p.Street, Zip: p.Zip, Phone: p.Phone, Tags: p.Tags,
		CreatedUnix: p.CreatedUnix, UpdatedUnix: p.UpdatedUnix, Balance: p.Balance, Verified: p.Verified,
		Visits: int64(p.Visits), Rating: float64(p.Rating), Note: p.Note, Version: int64(p.Version),
	}
}

func fromThrift(p *kg.Payload) greeter.Payload {
	return greeter.Payload{
		ID: p.Id, Name: p.Name, Email: p.Email, Active: p.Active, Score: p.Score, Age: p.Age,
		Country: p.Country, City: p.City, Street: p.Street, Zip: p.Zip, Phone: p.Phone, Tags: p.Tags,
		CreatedUnix: p.CreatedUnix, UpdatedUnix: p.UpdatedUnix, Balance: p.Balance, Verified: p.Verified,
		Visits: uint32(p.Visits), Rating: float32(p.Rating), Note: p.Note, Version: uint64(p.Version),
	}
}
