package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/ringrpc/ringrpc/example/hello"
	"github.com/ringrpc/ringrpc/registry"
	"github.com/ringrpc/ringrpc/rpc"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreAnyFunction("github.com/armon/go-metrics.(*InmemSink).run"),
		goleak.IgnoreTopFunction("github.com/hashicorp/memberlist.(*Memberlist).probeNode"))
}

// provider serves the example services and joins a fast cluster; it returns the RPC
// and gossip addresses.
func provider(t *testing.T) (string, string) {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv := rpc.NewServer(rpc.ServerOptions{Logger: log})
	svc := &hello.Service{Name: "p1", Log: log}
	if err := hello.RegisterHelloServer(srv, svc); err != nil {
		t.Fatal(err)
	}
	if err := hello.RegisterWorldServer(srv, svc); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	reg, err := registry.Join(context.Background(), registry.Options{NodeName: "p1", Preset: registry.Fast, Server: srv, RPCAddr: ln.Addr().String(), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close(); srv.Close() })
	return ln.Addr().String(), reg.GossipAddr()
}

func runCLI(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestCLI(t *testing.T) {
	addr, seed := provider(t)
	tests := []struct {
		name string
		args []string
		code int
		out  string // in stdout
		err  string // in stderr
	}{
		{"call by address", []string{"call", "--addr", addr, hello.HelloServiceName, "SayHello", `["a","b"]`}, 0, `"hello a b"`, ""},
		{"call an int method", []string{"call", "--addr", addr, hello.HelloServiceName, "SayHelloInteger", `[1, 2]`}, 0, "1003", ""},
		{"call oneway", []string{"call", "--addr", addr, hello.WorldServiceName, "SayWorld", `["a","b"]`}, 0, "null", ""},
		{"call through the cluster with a key", []string{"call", "--seed", seed, "--preset", "fast", "--key", "user-1", hello.HelloServiceName, "Greet", `["user-1"]`}, 0, `"hi user-1, from p1"`, ""},
		{"services", []string{"services", "--addr", addr}, 0, "SayHello(a string, b string) (string, error)", ""},
		{"services in the cluster", []string{"services", "--seed", seed, "--preset", "fast"}, 0, "SayWorld(a string, b string)  // oneway", ""},
		{"members", []string{"members", "--seed", seed, "--preset", "fast"}, 0, "p1", ""},
		{"ring", []string{"ring", "--seed", seed, "--preset", "fast", hello.HelloServiceName}, 0, "100.0%", ""},
		{"unknown service", []string{"call", "--addr", addr, "no.Such", "X"}, 1, "", `unknown service "no.Such"`},
		{"unknown method", []string{"call", "--addr", addr, hello.HelloServiceName, "Nope"}, 1, "", `no method "Nope"; it has: Greet, SayHello, SayHelloInteger`},
		{"bad JSON", []string{"call", "--addr", addr, hello.HelloServiceName, "SayHello", `["a",`}, 2, "", "JSON-ARGS must be a JSON array"},
		{"wrong argument types", []string{"call", "--addr", addr, hello.HelloServiceName, "SayHello", `[1,2]`}, 1, "", "bad_arguments"},
		{"unreachable seed", []string{"members", "--seed", "127.0.0.1:1", "--preset", "fast", "--timeout", "2s"}, 1, "", "no seed answered"},
		{"unreachable server", []string{"services", "--addr", "127.0.0.1:1"}, 1, "", "unavailable"},
		{"no target", []string{"services"}, 2, "", "--addr HOST:PORT"},
		{"members needs a seed", []string{"members", "--addr", addr}, 2, "", "needs --seed"},
		{"unknown command", []string{"frob"}, 2, "", `unknown command "frob"`},
		{"help", []string{"call", "--help"}, 0, "", "usage: ringrpc call"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := runCLI(tc.args...)
			if code != tc.code || !strings.Contains(out, tc.out) || !strings.Contains(errs, tc.err) {
				t.Fatalf("exit %d (want %d)\nstdout: %s\nstderr: %s\nwant stdout %q, stderr %q", code, tc.code, out, errs, tc.out, tc.err)
			}
		})
	}
}

func TestCLIJSON(t *testing.T) {
	addr, seed := provider(t)
	code, out, errs := runCLI("services", "--addr", addr, "--json")
	var descs []rpc.ServiceDesc
	if code != 0 || json.Unmarshal([]byte(out), &descs) != nil || len(descs) != 2 {
		t.Fatalf("services --json: %d %s %s", code, out, errs)
	}
	code, out, errs = runCLI("members", "--seed", seed, "--preset", "fast", "--json")
	var members []registry.Member
	if code != 0 || json.Unmarshal([]byte(out), &members) != nil || len(members) != 2 {
		t.Fatalf("members --json: %d %s %s", code, out, errs)
	}
}
