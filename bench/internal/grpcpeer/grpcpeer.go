// Package grpcpeer serves and calls greeter.Greeter with gRPC and protobuf, through
// a service descriptor and client written the way protoc-gen-go-grpc writes them.
package grpcpeer

import (
	"context"
	"net"

	"github.com/ringrpc/ringrpc/bench/internal/greeter"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

const (
	sayHelloMethod = "/ringrpc.bench.Greeter/SayHello"
	echoMethod     = "/ringrpc.bench.Greeter/Echo"
)

// greeterServer is the server API of ringrpc.bench.Greeter.
type greeterServer interface {
	SayHello(context.Context, *HelloRequest) (*HelloReply, error)
	Echo(context.Context, *greeter.Payload) (*greeter.Payload, error)
}

var greeterServiceDesc = grpc.ServiceDesc{
	ServiceName: "ringrpc.bench.Greeter",
	HandlerType: (*greeterServer)(nil),
	Methods: []grpc.MethodDesc{
		{MethodName: "SayHello", Handler: sayHelloHandler},
		{MethodName: "Echo", Handler: echoHandler},
	},
	Streams:  []grpc.StreamDesc{},
	Metadata: "greeter.proto",
}

func sayHelloHandler(srv any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
	in := new(HelloRequest)
	if err := dec(in); err != nil {
		return nil, err
	}
	if interceptor == nil {
		return srv.(greeterServer).SayHello(ctx, in)
	}
	info := &grpc.UnaryServerInfo{Server: srv, FullMethod: sayHelloMethod}
	handler := func(ctx context.Context, req any) (any, error) {
		return srv.(greeterServer).SayHello(ctx, req.(*HelloRequest))
	}
	return interceptor(ctx, in, info, handler)
}

func echoHandler(srv any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
	in := new(greeter.Payload)
	if err := dec(in); err != nil {
		return nil, err
	}
	if interceptor == nil {
		return srv.(greeterServer).Echo(ctx, in)
	}
	info := &grpc.UnaryServerInfo{Server: srv, FullMethod: echoMethod}
	handler := func(ctx context.Context, req any) (any, error) {
		return srv.(greeterServer).Echo(ctx, req.(*greeter.Payload))
	}
	return interceptor(ctx, in, info, handler)
}

// server adapts greeter.Impl to the server API.
type server struct{ impl greeter.Impl }

func (s server) SayHello(ctx context.Context, in *HelloRequest) (*HelloReply, error) {
	msg, err := s.impl.SayHello(ctx, in.A, in.B)
	if err != nil {
		return nil, err
	}
	return &HelloReply{Message: msg}, nil
}

func (s server) Echo(ctx context.Context, in *greeter.Payload) (*greeter.Payload, error) {
	out, err := s.impl.Echo(ctx, in)
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// Serve serves greeter.Impl on ln until stop is called.
func Serve(ln net.Listener) (stop func(), err error) {
	s := grpc.NewServer()
	s.RegisterService(&greeterServiceDesc, server{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.Serve(ln)
	}()
	return func() { s.Stop(); <-done }, nil
}

// Client calls greeter.Greeter over one gRPC ClientConn.
type Client struct{ cc *grpc.ClientConn }

// Dial returns a client of the server at addr; it connects on the first call.
func Dial(addr string) (*Client, error) {
	cc, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, err
	}
	return &Client{cc}, nil
}

// SayHello calls ringrpc.bench.Greeter/SayHello.
func (c *Client) SayHello(ctx context.Context, a, b string) (string, error) {
	out := new(HelloReply)
	if err := c.cc.Invoke(ctx, sayHelloMethod, &HelloRequest{A: a, B: b}, out, grpc.StaticMethod()); err != nil {
		return "", err
	}
	return out.Message, nil
}

// Echo calls ringrpc.bench.Greeter/Echo.
func (c *Client) Echo(ctx context.Context, p *greeter.Payload) (greeter.Payload, error) {
	out := new(greeter.Payload)
	if err := c.cc.Invoke(ctx, echoMethod, p, out, grpc.StaticMethod()); err != nil {
		return greeter.Payload{}, err
	}
	return *out, nil
}

// Close closes the connection.
func (c *Client) Close() error { return c.cc.Close() }
