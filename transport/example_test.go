package transport_test

import (
	"context"
	"fmt"

	"github.com/ringrpc/ringrpc/transport"
)

// A server with one processor and a client calling it synchronously.
func Example() {
	srv := transport.NewServer(transport.ServerOptions{})
	srv.RegisterProcessor(7, transport.ProcessorFunc(func(_ context.Context, _ *transport.Conn, req *transport.Command) (*transport.Command, error) {
		resp := transport.NewResponse(req, transport.CodeSuccess, "")
		resp.Body = append([]byte("hello, "), req.Body...)
		return resp, nil
	}), transport.PoolOptions{})
	ln, _ := transport.Listen("127.0.0.1:0")
	go srv.Serve(ln)
	defer srv.Close()

	client := transport.NewClient(transport.ClientOptions{})
	defer client.Close()
	resp, err := client.InvokeSync(context.Background(), ln.Addr().String(), transport.NewRequest(7, nil, []byte("world")))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(resp.Code, string(resp.Body))
	// Output: 0 hello, world
}

// Encoding and decoding a frame without any I/O.
func ExampleAppendFrame() {
	req := transport.NewRequest(0, transport.Fields{{Key: "interfaceName", Value: "Hello"}, {Key: "methodName", Value: "SayHello"}}, []byte(`["a","b"]`))
	req.Opaque = 1
	frame, _ := transport.AppendFrame(nil, req, transport.SerializeRocketMQ)
	back, n, _ := transport.ParseFrame(frame, 0)
	fmt.Println(n, back.ExtFields.Get("methodName"), string(back.Body))
	// Output: 86 SayHello ["a","b"]
}
