package rpc_test

import (
	"context"
	"fmt"
	"net"

	"github.com/ringrpc/ringrpc/rpc"
)

// The descriptor and handler ringrpc-gen writes for
//
//	type Upper interface{ Upper(ctx context.Context, s string) (string, error) }
var upperDesc = rpc.ServiceDesc{
	Name: "example.com/text.Upper",
	Methods: []rpc.MethodDesc{
		{Name: "Upper", Params: []rpc.Param{{Name: "s", Type: "string"}}, Results: []string{"string"}},
	},
}

func upperHandler(ctx context.Context, args *rpc.Decoder, res *rpc.Encoder) error {
	var s string
	args.String(&s)
	if err := args.Finish(); err != nil {
		return err
	}
	out := []byte(s)
	for i, c := range out {
		if 'a' <= c && c <= 'z' {
			out[i] = c - 'a' + 'A'
		}
	}
	res.String(string(out))
	return nil
}

// A server that registers a service and serves it on a loopback port.
func ExampleServer() {
	srv := rpc.NewServer(rpc.ServerOptions{})
	if err := srv.Register(&upperDesc, []rpc.Handler{upperHandler}); err != nil {
		fmt.Println(err)
		return
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go srv.Serve(ln)
	defer srv.Shutdown(context.Background())

	fmt.Println(len(srv.Services()), srv.Services()[0].Name)
	// Output: 1 example.com/text.Upper
}

// A client calling that service the way a generated client does, then asynchronously.
func ExampleClient() {
	srv := rpc.NewServer(rpc.ServerOptions{})
	srv.Register(&upperDesc, []rpc.Handler{upperHandler})
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go srv.Serve(ln)
	defer srv.Close()

	client, err := rpc.NewClient(rpc.ClientOptions{Resolver: rpc.StaticAddress(ln.Addr().String())})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer client.Close()
	ctx := context.Background()

	call := client.NewCall(&upperDesc, 0)
	call.Args.String("hello")
	d, err := client.Invoke(ctx, call)
	if err != nil {
		fmt.Println(err)
		return
	}
	var out string
	d.String(&out)
	fmt.Println(out, d.Finish())

	call = client.NewCall(&upperDesc, 0)
	call.Args.String("async")
	f := rpc.InvokeAsync(client, ctx, call, func(d *rpc.Decoder) (string, error) {
		var s string
		d.String(&s)
		return s, d.Finish()
	})
	fmt.Println(f.Wait(ctx))
	// Output:
	// HELLO <nil>
	// ASYNC <nil>
}

// Errors carry a code that callers test with errors.Is or CodeOf.
func ExampleCodeOf() {
	err := fmt.Errorf("loading cart: %w", rpc.Errorf(rpc.CodeNotFound, "cart %d does not exist", 42))
	fmt.Println(rpc.CodeOf(err))
	fmt.Println(err)
	// Output:
	// not_found
	// loading cart: rpc: not_found: cart 42 does not exist
}
