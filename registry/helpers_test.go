package registry

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ringrpc/ringrpc/rpc"
	"github.com/ringrpc/ringrpc/transport"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// memberlist's package-level metrics sink is not ours, and its Shutdown does
		// not wait for a probe in progress, which ends within one probe timeout.
		goleak.IgnoreTopFunction("github.com/hashicorp/memberlist.(*Memberlist).probeNode"),
	)
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// whoDesc is a service whose one method answers with the provider's node name.
var whoDesc = rpc.ServiceDesc{
	Name:    "test.Who",
	Methods: []rpc.MethodDesc{{Name: "Who", Params: []rpc.Param{{Name: "key", Type: "string"}}, Results: []string{"string"}, Idempotent: true}},
}

func whoHandler(node string) rpc.Handler {
	return func(_ context.Context, args *rpc.Decoder, res *rpc.Encoder) error {
		var key string
		args.String(&key)
		if err := args.Finish(); err != nil {
			return err
		}
		res.String(node)
		return nil
	}
}

// who calls test.Who with key as the route key and returns the serving node.
func who(ctx context.Context, c *rpc.Client, key string) (string, error) {
	call := c.NewCall(&whoDesc, 0)
	call.Args.String(key)
	call.SetRouteKey(key)
	d, err := c.Invoke(ctx, call)
	if err != nil {
		return "", err
	}
	var node string
	d.String(&node)
	return node, d.Finish()
}

type node struct {
	name   string
	reg    *Registry
	server *rpc.Server
	served chan error
}

// startProvider runs an RPC server with test.Who on loopback and joins it to seeds.
func startProvider(t testing.TB, name string, seeds []string, mutate func(*Options)) *node {
	t.Helper()
	srv := rpc.NewServer(rpc.ServerOptions{Logger: quiet, Transport: transport.ServerOptions{ConnOptions: transport.ConnOptions{Logger: quiet}}})
	if err := srv.Register(&whoDesc, []rpc.Handler{whoHandler(name)}); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	n := &node{name: name, server: srv, served: make(chan error, 1)}
	go func() { n.served <- srv.Serve(ln) }()
	opts := Options{NodeName: name, Preset: Fast, Seeds: seeds, Server: srv, RPCAddr: ln.Addr().String(), Logger: quiet}
	if mutate != nil {
		mutate(&opts)
	}
	n.reg, err = Join(context.Background(), opts)
	if err != nil {
		srv.Close()
		t.Fatal(err)
	}
	t.Cleanup(n.stop)
	return n
}

// stop closes the node without a goodbye, if it still runs.
func (n *node) stop() {
	n.reg.Close()
	n.server.Close()
	<-n.served
	n.served <- transport.ErrServerClosed // stop is idempotent
}

func startConsumer(t testing.TB, name string, seeds []string, mutate func(*Options)) (*Registry, *rpc.Client) {
	t.Helper()
	opts := Options{NodeName: name, Preset: Fast, Seeds: seeds, Logger: quiet}
	if mutate != nil {
		mutate(&opts)
	}
	reg, err := Join(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	c, err := rpc.NewClient(rpc.ClientOptions{Resolver: reg, Transport: transport.ClientOptions{ConnOptions: transport.ConnOptions{Logger: quiet}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); reg.Close() })
	return reg, c
}

// providersOf waits until reg's ring of svc holds exactly want providers.
func providersOf(t testing.TB, reg *Registry, svc string, want int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := reg.WaitFor(ctx, func(s Snapshot) bool { return len(s.Services[svc]) == want })
	if err != nil {
		t.Fatalf("%s never saw %d providers of %s: %v (sees %v)", reg.Name(), want, svc, err, reg.Snapshot().Services[svc])
	}
}

func cluster(t testing.TB, providers int) ([]*node, []string) {
	t.Helper()
	return clusterWith(t, providers, nil)
}

// clusterWith starts providers p0, p1, ... with mutate applied to their options, each
// joining p0.
func clusterWith(t testing.TB, providers int, mutate func(*Options)) ([]*node, []string) {
	t.Helper()
	var nodes []*node
	var seeds []string
	for i := range providers {
		n := startProvider(t, fmt.Sprintf("p%d", i), seeds, mutate)
		nodes = append(nodes, n)
		if i == 0 {
			seeds = []string{n.reg.GossipAddr()}
		}
	}
	return nodes, seeds
}
