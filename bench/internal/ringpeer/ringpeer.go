// Package ringpeer serves and calls greeter.Greeter with ringrpc, through the client
// and dispatcher ringrpc-gen writes.
package ringpeer

import (
	"io"
	"log/slog"
	"net"

	"github.com/ringrpc/ringrpc/bench/internal/greeter"
	"github.com/ringrpc/ringrpc/rpc"
	"github.com/ringrpc/ringrpc/transport"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// Client calls greeter.Greeter over one ringrpc connection, through the generated
// client.
type Client struct {
	greeter.Greeter
	c *rpc.Client
}

// Dial returns a client of the server at addr; it connects on the first call.
func Dial(addr string) (*Client, error) {
	c, err := rpc.NewClient(rpc.ClientOptions{
		Resolver:  rpc.StaticAddress(addr),
		Transport: transport.ClientOptions{ConnOptions: transport.ConnOptions{Logger: quiet}},
	})
	if err != nil {
		return nil, err
	}
	return &Client{Greeter: greeter.NewGreeterClient(c), c: c}, nil
}

// Close closes the connection.
func (x *Client) Close() error { return x.c.Close() }

// Serve serves greeter.Impl on ln until stop is called.
func Serve(ln net.Listener) (stop func(), err error) {
	return ServeWith(ln, func(s *rpc.Server) error { return greeter.RegisterGreeterServer(s, greeter.Impl{}) })
}

// ServeWith serves on ln, with every default and no logs, what register registers,
// until stop is called.
func ServeWith(ln net.Listener, register func(*rpc.Server) error) (stop func(), err error) {
	s := rpc.NewServer(rpc.ServerOptions{
		Logger:    quiet,
		Transport: transport.ServerOptions{ConnOptions: transport.ConnOptions{Logger: quiet}},
	})
	if err := register(s); err != nil {
		return nil, err
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.Serve(ln)
	}()
	return func() { s.Close(); <-done }, nil
}
