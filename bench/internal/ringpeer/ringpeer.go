// Package ringpeer serves and calls greeter.Greeter with ringrpc, through a
// descriptor, client and dispatcher written the way ringrpc-gen writes them.
package ringpeer

import (
	"context"
	"io"
	"log/slog"
	"net"

	"github.com/ringrpc/ringrpc/bench/internal/greeter"
	"github.com/ringrpc/ringrpc/rpc"
	"github.com/ringrpc/ringrpc/transport"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

var greeterDesc = rpc.ServiceDesc{
	Name: "github.com/ringrpc/ringrpc/bench/internal/greeter.Greeter",
	Methods: []rpc.MethodDesc{
		{Name: "SayHello", Params: []rpc.Param{{Name: "a", Type: "string"}, {Name: "b", Type: "string"}}, Results: []string{"string"}},
		{Name: "Echo", Params: []rpc.Param{{Name: "p", Type: "*greeter.Payload"}}, Results: []string{"greeter.Payload"}},
	},
}

// registerGreeter serves impl on s, as a generated RegisterGreeterServer does.
func registerGreeter(s *rpc.Server, impl greeter.Greeter) error {
	return s.Register(&greeterDesc, []rpc.Handler{
		func(ctx context.Context, args *rpc.Decoder, res *rpc.Encoder) error {
			var a, b string
			args.String(&a)
			args.String(&b)
			if err := args.Finish(); err != nil {
				return err
			}
			r0, err := impl.SayHello(ctx, a, b)
			if err != nil {
				return err
			}
			res.String(r0)
			return nil
		},
		func(ctx context.Context, args *rpc.Decoder, res *rpc.Encoder) error {
			var p *greeter.Payload
			args.Value(&p)
			if err := args.Finish(); err != nil {
				return err
			}
			r0, err := impl.Echo(ctx, p)
			if err != nil {
				return err
			}
			res.Value(&r0)
			return nil
		},
	})
}

// Client calls greeter.Greeter over one ringrpc connection.
type Client struct{ c *rpc.Client }

// Dial returns a client of the server at addr; it connects on the first call.
func Dial(addr string) (*Client, error) {
	c, err := rpc.NewClient(rpc.ClientOptions{
		Resolver:  rpc.StaticAddress(addr),
		Transport: transport.ClientOptions{ConnOptions: transport.ConnOptions{Logger: quiet}},
	})
	if err != nil {
		return nil, err
	}
	return &Client{c}, nil
}

// SayHello calls Greeter.SayHello.
func (x *Client) SayHello(ctx context.Context, a, b string) (string, error) {
	call := x.c.NewCall(&greeterDesc, 0)
	call.Args.String(a)
	call.Args.String(b)
	var r0 string
	d, err := x.c.Invoke(ctx, call)
	if err != nil {
		return r0, err
	}
	d.String(&r0)
	return r0, d.Finish()
}

// Echo calls Greeter.Echo.
func (x *Client) Echo(ctx context.Context, p *greeter.Payload) (greeter.Payload, error) {
	call := x.c.NewCall(&greeterDesc, 1)
	call.Args.Value(&p)
	var r0 greeter.Payload
	d, err := x.c.Invoke(ctx, call)
	if err != nil {
		return r0, err
	}
	d.Value(&r0)
	return r0, d.Finish()
}

// Close closes the connection.
func (x *Client) Close() error { return x.c.Close() }

// Serve serves greeter.Impl on ln until stop is called.
func Serve(ln net.Listener) (stop func(), err error) {
	s := rpc.NewServer(rpc.ServerOptions{
		Logger:    quiet,
		Transport: transport.ServerOptions{ConnOptions: transport.ConnOptions{Logger: quiet}},
	})
	if err := registerGreeter(s, greeter.Impl{}); err != nil {
		return nil, err
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.Serve(ln)
	}()
	return func() { s.Close(); <-done }, nil
}
