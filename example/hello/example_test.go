package hello_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"

	"github.com/ringrpc/ringrpc/example/hello"
	"github.com/ringrpc/ringrpc/rpc"
)

// The generated client implements Hello itself; the generated dispatcher serves any
// implementation of it.
func Example() {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv := rpc.NewServer(rpc.ServerOptions{})
	hello.RegisterHelloServer(srv, &hello.Service{Name: "p1", Log: log})
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go srv.Serve(ln)
	defer srv.Close()

	client, _ := rpc.NewClient(rpc.ClientOptions{Resolver: rpc.StaticAddress(ln.Addr().String())})
	defer client.Close()
	var h hello.Hello = hello.NewHelloClient(client)
	ctx := context.Background()

	s, err := h.SayHello(ctx, "a", "b")
	fmt.Println(s, err)
	n, err := h.SayHelloInteger(ctx, 1, 2)
	fmt.Println(n, err)

	f := hello.NewHelloAsyncClient(client).Greet(ctx, "ann")
	fmt.Println(f.Wait(ctx))
	// Output:
	// hello a b <nil>
	// 1003 <nil>
	// hi ann, from p1 <nil>
}
