package registry_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"time"

	"github.com/ringrpc/ringrpc/registry"
	"github.com/ringrpc/ringrpc/rpc"
)

var upper = rpc.ServiceDesc{
	Name:    "example.Upper",
	Methods: []rpc.MethodDesc{{Name: "Upper", Params: []rpc.Param{{Name: "s", Type: "string"}}, Results: []string{"string"}}},
}

func upperHandler(_ context.Context, args *rpc.Decoder, res *rpc.Encoder) error {
	var s string
	args.String(&s)
	if err := args.Finish(); err != nil {
		return err
	}
	res.String("UPPER " + s)
	return nil
}

// A provider and a consumer find each other by gossip on this machine; the consumer's
// calls are routed on the service's ring.
func Example() {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	// The provider serves a service and joins, starting the cluster.
	srv := rpc.NewServer(rpc.ServerOptions{})
	srv.Register(&upper, []rpc.Handler{upperHandler})
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go srv.Serve(ln)
	provider, err := registry.Join(ctx, registry.Options{NodeName: "provider", Preset: registry.Fast, Server: srv, RPCAddr: ln.Addr().String(), Logger: quiet})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer provider.Shutdown(ctx)

	// The consumer joins through the provider's gossip address.
	consumer, err := registry.Join(ctx, registry.Options{NodeName: "consumer", Preset: registry.Fast, Seeds: []string{provider.GossipAddr()}, Logger: quiet})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer consumer.Close()
	consumer.WaitFor(ctx, func(s registry.Snapshot) bool { return len(s.Services[upper.Name]) == 1 })

	client, _ := rpc.NewClient(rpc.ClientOptions{Resolver: consumer})
	defer client.Close()
	call := client.NewCall(&upper, 0)
	call.Args.String("hello")
	d, err := client.Invoke(ctx, call)
	if err != nil {
		fmt.Println(err)
		return
	}
	var out string
	d.String(&out)
	fmt.Println(out, d.Finish())
	for _, o := range consumer.Snapshot().Services[upper.Name] {
		fmt.Printf("%s owns %.0f%% of the ring\n", o.Node, 100*o.Share)
	}
	// Output:
	// UPPER hello <nil>
	// provider owns 100% of the ring
}
