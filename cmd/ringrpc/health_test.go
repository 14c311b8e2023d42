package main

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"

	"github.com/ringrpc/ringrpc/example/hello"
	"github.com/ringrpc/ringrpc/registry"
	"github.com/ringrpc/ringrpc/rpc"
	"github.com/ringrpc/ringrpc/transport"
)

func TestCLIHealth(t *testing.T) {
	srv := rpc.NewServer(rpc.ServerOptions{Logger: quietLog})
	if err := hello.RegisterHelloServer(srv, &hello.Service{Name: "p", Log: quietLog}); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-served; !errors.Is(err, transport.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	})
	addr := ln.Addr().String()
	for _, tc := range []struct {
		name string
		set  rpc.ServingStatus
		args []string
		code int
		out  string
	}{
		{"server serving", rpc.StatusServing, []string{"health", "--addr", addr}, 0, "(server)  SERVING"},
		{"service serving", rpc.StatusServing, []string{"health", hello.HelloServiceName, "--addr", addr}, 0, hello.HelloServiceName + "  SERVING"},
		{"server not serving", rpc.StatusNotServing, []string{"health", "--addr", addr}, 1, "NOT_SERVING"},
		{"unknown service", rpc.StatusServing, []string{"health", "no.Such", "--addr", addr}, 1, "service_not_found"},
		{"two services", rpc.StatusServing, []string{"health", "a", "b", "--addr", addr}, 2, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv.SetServingStatus("", tc.set)
			code, out, errOut := runCLI(tc.args...)
			if code != tc.code || !strings.Contains(out+errOut, tc.out) {
				t.Fatalf("ringrpc %s: exit %d, want %d; out %q err %q, want %q", strings.Join(tc.args, " "), code, tc.code, out, errOut, tc.out)
			}
		})
	}
}

// Through the cluster, health asks every provider and exits 1 when one is not
// SERVING; a cluster with no provider at all is said to have none.
func TestCLIHealthThroughTheCluster(t *testing.T) {
	consumer, err := registry.Join(context.Background(), registry.Options{NodeName: "c", Preset: registry.Fast, Logger: quietLog})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { consumer.Close() })
	seed := consumer.GossipAddr()
	code, out, errOut := runCLI("health", "--seed", seed, "--preset", "fast")
	if code != 1 || strings.Contains(errOut, `""`) || !strings.Contains(errOut, "no member of the cluster serves calls") {
		t.Fatalf("health of a cluster without providers: exit %d, out %q, err %q", code, out, errOut)
	}

	for _, args := range [][]string{{"services"}, {"services", "--json"}} {
		code, out, errOut := runCLI(append(args, "--seed", seed, "--preset", "fast")...)
		if code != 1 || out != "" || !strings.Contains(errOut, "no member of the cluster provides a service") {
			t.Fatalf("ringrpc %s of a cluster without providers: exit %d, out %q, err %q; want exit 1 saying so", strings.Join(args, " "), code, out, errOut)
		}
	}

	addr1, _ := providerNamed(t, "p1", []string{seed})
	srv2, addr2 := healthProvider(t, "p2", seed)
	srv2.SetServingStatus(hello.HelloServiceName, rpc.StatusNotServing)
	for _, tc := range []struct {
		args []string
		code int
		rows []string
	}{
		{[]string{"health", "--seed", seed, "--preset", "fast"}, 0, []string{addr1 + "  (server)  SERVING", addr2 + "  (server)  SERVING"}},
		{[]string{"health", hello.HelloServiceName, "--seed", seed, "--preset", "fast"}, 1, []string{addr1 + "  " + hello.HelloServiceName + "  SERVING", addr2 + "  " + hello.HelloServiceName + "  NOT_SERVING"}},
	} {
		code, out, errOut := runCLI(tc.args...)
		if code != tc.code {
			t.Errorf("ringrpc %s: exit %d, want %d; out %q err %q", strings.Join(tc.args, " "), code, tc.code, out, errOut)
		}
		for _, row := range tc.rows {
			if !strings.Contains(out, row) {
				t.Errorf("ringrpc %s: no row %q in %q", strings.Join(tc.args, " "), row, out)
			}
		}
	}
}

// healthProvider serves Hello and joins the fast cluster of seed as name; it returns
// the server and its RPC address.
func healthProvider(t *testing.T, name, seed string) (*rpc.Server, string) {
	t.Helper()
	srv := rpc.NewServer(rpc.ServerOptions{Logger: quietLog})
	if err := hello.RegisterHelloServer(srv, &hello.Service{Name: name, Log: quietLog}); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	reg, err := registry.Join(context.Background(), registry.Options{NodeName: name, Seeds: []string{seed}, Preset: registry.Fast, Server: srv, RPCAddr: ln.Addr().String(), Logger: quietLog})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close(); srv.Close() })
	return srv, ln.Addr().String()
}

// Through the cluster, a command that needs a service's descriptor reads it from a
// provider that answers: one whose server is gone while gossip still lists it (a
// killed process, before failure detection finds it) does not fail the command.
func TestCLIDescribesThroughAProviderThatAnswers(t *testing.T) {
	_, seed := providerNamed(t, "p1", nil)
	srv, _ := healthProvider(t, "p2", seed) // sorts after p1
	srv.Close()
	for _, args := range [][]string{
		{"call", "--seed", seed, "--preset", "fast", hello.HelloServiceName, "SayHello", `["a","b"]`},
		{"services", "--seed", seed, "--preset", "fast"},
	} {
		code, out, errOut := runCLI(args...)
		if code != 0 || !strings.Contains(out, "hello") || args[0] == "services" && !strings.Contains(out, "SayHello(") {
			t.Errorf("ringrpc %s: exit %d, out %q, err %q", strings.Join(args, " "), code, out, errOut)
		}
	}
}
