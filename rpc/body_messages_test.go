package rpc

import (
	"context"
	"net"
	"strings"
	"testing"

	"github.com/ringrpc/ringrpc/transport"
)

// An empty request body is refused with a message that says so and what to send,
// whatever the method's parameters.
func TestEmptyBodySaysWhatToSend(t *testing.T) {
	_, _, addr := startGreeter(t, ServerOptions{})
	tc := transport.NewClient(transport.ClientOptions{ConnOptions: transport.ConnOptions{Logger: quiet}})
	defer tc.Close()
	for _, tc2 := range []struct{ method, body string }{
		{"SayHello", ""},
		{"SayHello", " \n"},
		{"Pair", ""},
		{"Check", "\t"},
	} {
		ext := transport.Fields{{Key: HeaderInterface, Value: greeterDesc.Name}, {Key: HeaderMethod, Value: tc2.method}}
		resp, err := tc.InvokeSync(context.Background(), addr, transport.NewRequest(RequestCode, ext, []byte(tc2.body)))
		if err != nil {
			t.Fatal(err)
		}
		const want = "the body is empty: send the arguments as a JSON array, [] for none"
		if fromWire(resp.Code) != CodeBadArguments || !strings.Contains(resp.Remark, want) {
			t.Errorf("%s with body %q: code %d, remark %q; want bad_arguments saying %q", tc2.method, tc2.body, resp.Code, resp.Remark, want)
		}
	}
}

// A response body where a method without results wants none says so, not that data
// follows a value that is not there.
func TestResponseBodyOfMethodWithoutResults(t *testing.T) {
	s := transport.NewServer(transport.ServerOptions{ConnOptions: transport.ConnOptions{Logger: quiet}})
	if err := s.RegisterProcessor(RequestCode, transport.ProcessorFunc(func(_ context.Context, _ *transport.Conn, req *transport.Command) (*transport.Command, error) {
		resp := transport.NewResponse(req, transport.CodeSuccess, "")
		resp.Body = []byte("null")
		return resp, nil
	}), transport.PoolOptions{}); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(ln)
	defer s.Close()
	g, _ := newGreeterClient(t, ClientOptions{Resolver: StaticAddress(ln.Addr().String())})
	err = g.Check(context.Background(), 1)
	const want = "Check has no results: its response's body is empty, got 4 bytes"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Check answered null: %v; want an error saying %q", err, want)
	}
}
