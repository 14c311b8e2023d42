package main

import (
	"errors"
	"net"
	"strings"
	"testing"

	"github.com/ringrpc/ringrpc/example/hello"
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
