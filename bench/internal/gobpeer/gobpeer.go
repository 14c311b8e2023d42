// Package gobpeer serves and calls greeter.Greeter with net/rpc and its gob codec.
package gobpeer

import (
	"context"
	"net"
	"net/rpc"
	"sync"

	"github.com/ringrpc/ringrpc/bench/internal/greeter"
)

// HelloArgs are the arguments of Greeter.SayHello.
type HelloArgs struct {
	A, B string
}

// Service is the net/rpc receiver that serves greeter.Impl.
type Service struct{ impl greeter.Impl }

// SayHello serves Greeter.SayHello.
func (s *Service) SayHello(args *HelloArgs, reply *string) error {
	r, err := s.impl.SayHello(context.Background(), args.A, args.B)
	*reply = r
	return err
}

// Echo serves Greeter.Echo.
func (s *Service) Echo(args *greeter.Payload, reply *greeter.Payload) error {
	r, err := s.impl.Echo(context.Background(), args)
	*reply = r
	return err
}

// Serve serves greeter.Impl on ln until stop is called.
func Serve(ln net.Listener) (stop func(), err error) {
	s := rpc.NewServer()
	if err := s.RegisterName("Greeter", &Service{}); err != nil {
		return nil, err
	}
	var (
		mu    sync.Mutex
		conns = map[net.Conn]bool{}
		wg    sync.WaitGroup
	)
	wg.Go(func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns[nc] = true
			mu.Unlock()
			wg.Go(func() {
				s.ServeConn(nc)
				mu.Lock()
				delete(conns, nc)
				mu.Unlock()
			})
		}
	})
	return func() {
		ln.Close()
		mu.Lock()
		for nc := range conns {
			nc.Close()
		}
		mu.Unlock()
		wg.Wait()
	}, nil
}

// Client calls greeter.Greeter over one *rpc.Client.
type Client struct{ c *rpc.Client }

// Dial connects to the server at addr.
func Dial(addr string) (*Client, error) {
	c, err := rpc.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	return &Client{c}, nil
}

// SayHello calls Greeter.SayHello.
func (c *Client) SayHello(ctx context.Context, a, b string) (string, error) {
	var r string
	err := c.call(ctx, "Greeter.SayHello", &HelloArgs{A: a, B: b}, &r)
	return r, err
}

// Echo calls Greeter.Echo.
func (c *Client) Echo(ctx context.Context, p *greeter.Payload) (greeter.Payload, error) {
	var r greeter.Payload
	err := c.call(ctx, "Greeter.Echo", p, &r)
	return r, err
}

// call is rpc.Client.Call that also gives up when ctx ends.
func (c *Client) call(ctx context.Context, method string, args, reply any) error {
	call := c.c.Go(method, args, reply, make(chan *rpc.Call, 1))
	select {
	case <-call.Done:
		return call.Error
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close closes the connection.
func (c *Client) Close() error { return c.c.Close() }
