package main

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/ringrpc/ringrpc/example/hello"
	"github.com/ringrpc/ringrpc/registry"
	"github.com/ringrpc/ringrpc/rpc"
)

// namedHello answers SayHello and SayHelloInteger with its provider's name, so that a
// caller sees where the call went.
type namedHello struct{ *hello.Service }

func (h namedHello) SayHello(context.Context, string, string) (string, error) {
	return h.Name, nil
}

func (h namedHello) SayHelloInteger(context.Context, int, int) (int, error) {
	return int(h.Name[1] - '0'), nil
}

// Through the cluster, a method without a route-key directive routes by the JSON of
// its first argument, as the generated client routes it, however the JSON given
// spaces it or spells its strings.
func TestCLIDefaultRouteIsTheGeneratedClients(t *testing.T) {
	var seed string
	for _, name := range []string{"p1", "p2", "p3"} {
		srv := rpc.NewServer(rpc.ServerOptions{Logger: quietLog})
		if err := hello.RegisterHelloServer(srv, namedHello{&hello.Service{Name: name, Log: quietLog}}); err != nil {
			t.Fatal(err)
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go srv.Serve(ln)
		var seeds []string
		if seed != "" {
			seeds = []string{seed}
		}
		reg, err := registry.Join(context.Background(), registry.Options{NodeName: name, Seeds: seeds, Preset: registry.Local, Server: srv, RPCAddr: ln.Addr().String(), Logger: quietLog})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { reg.Close(); srv.Close() })
		if seed == "" {
			seed = reg.GossipAddr()
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	typed := hello.NewHelloClient(typedClient(t, ctx, seed, func(s registry.Snapshot) bool { return len(s.Services[hello.HelloServiceName]) == 3 }))
	for _, a := range []string{"ann", "bob", "cy", "dee", "eve", "<fay&>"} {
		want, err := typed.SayHello(ctx, a, "x")
		if err != nil {
			t.Fatal(err)
		}
		escaped := `"\u` + fmt.Sprintf("%04x", a[0]) + a[1:] + `"` // the same string, spelt otherwise
		for _, args := range []string{`["` + a + `","x"]`, `[ "` + a + `" , "y" ]`, `[` + escaped + `,"z"]`} {
			code, out, errs := runCLI("call", "--seed", seed, "--preset", "local", hello.HelloServiceName, "SayHello", args)
			if code != 0 || strings.TrimSpace(out) != `"`+want+`"` {
				t.Errorf("SayHello %s: the CLI reached %s (exit %d, %s), the typed client %s", args, strings.TrimSpace(out), code, errs, want)
			}
		}
	}
	for n := range 6 {
		want, err := typed.SayHelloInteger(ctx, n*1000, 1)
		if err != nil {
			t.Fatal(err)
		}
		args := fmt.Sprintf("[ %d , 2 ]", n*1000)
		code, out, errs := runCLI("call", "--seed", seed, "--preset", "local", hello.HelloServiceName, "SayHelloInteger", args)
		if code != 0 || strings.TrimSpace(out) != fmt.Sprint(want) {
			t.Errorf("SayHelloInteger %s: the CLI reached %s (exit %d, %s), the typed client %d", args, strings.TrimSpace(out), code, errs, want)
		}
	}
}
