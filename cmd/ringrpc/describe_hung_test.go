package main

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/ringrpc/ringrpc/example/hello"
	"github.com/ringrpc/ringrpc/registry"
	"github.com/ringrpc/ringrpc/rpc"
)

// Through the cluster, a provider that gossip lists as alive but whose server takes
// connections and never answers (a stopped process, a hung server) does not use up
// the command's whole --timeout: the command still reads the descriptor from a
// provider that answers, as a call moves on from such a provider within its deadline.
func TestCLIDescribesPastAHungProvider(t *testing.T) {
	_, seed := providerNamed(t, "p1", nil)
	hung, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer hung.Close()
	held := make(chan net.Conn, 16)
	go func() {
		for {
			c, err := hung.Accept()
			if err != nil {
				return
			}
			held <- c // read nothing, answer nothing
		}
	}()
	defer func() {
		for {
			select {
			case c := <-held:
				c.Close()
			default:
				return
			}
		}
	}()
	srv := rpc.NewServer(rpc.ServerOptions{Logger: quietLog})
	if err := hello.RegisterHelloServer(srv, &hello.Service{Name: "p0", Log: quietLog}); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	// p0 sorts before p1, and advertises the hung address.
	reg, err := registry.Join(context.Background(), registry.Options{NodeName: "p0", Seeds: []string{seed}, Preset: registry.Fast, Server: srv, RPCAddr: hung.Addr().String(), Logger: quietLog})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	time.Sleep(500 * time.Millisecond) // p0 and p1 both in the seed's view
	code, out, errOut := runCLI("services", "--seed", seed, "--preset", "fast", "--timeout", "4s")
	if code != 0 || !strings.Contains(out, "SayHello(") {
		t.Errorf("ringrpc services: exit %d, out %q, err %q; want p1's descriptor", code, out, errOut)
	}
}

// When no provider answers, the error says how many were tried and how each one
// failed, on one line, where it gave only the last one's failure.
func TestCLIDescribeNamesEveryFailedProvider(t *testing.T) {
	consumer, err := registry.Join(context.Background(), registry.Options{NodeName: "c", Preset: registry.Fast, Logger: quietLog})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { consumer.Close() })
	seed := consumer.GossipAddr()
	srv1, addr1 := healthProvider(t, "p1", seed)
	srv2, addr2 := healthProvider(t, "p2", seed)
	srv1.Close() // gone while gossip still lists them, as killed processes are
	srv2.Close()
	code, out, errOut := runCLI("call", "--seed", seed, "--preset", "fast", hello.HelloServiceName, "SayHello", `["a","b"]`)
	msg := strings.TrimSuffix(errOut, "\n")
	if code != 1 || out != "" || strings.Contains(msg, "\n") ||
		!strings.Contains(msg, "none of the 2 providers tried answered") ||
		!strings.Contains(msg, "p1 at "+addr1+": ") || !strings.Contains(msg, "p2 at "+addr2+": ") {
		t.Errorf("ringrpc call with both providers gone: exit %d, out %q, err %q; want exit 1 and one line naming both providers' failures", code, out, errOut)
	}
}
