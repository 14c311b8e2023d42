package otelringrpc_test

import (
	"context"
	"net"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/ringrpc/ringrpc/example/hello"
	"github.com/ringrpc/ringrpc/rpc"
	"github.com/ringrpc/ringrpc/transport"
)

// helloV2 is Hello as a provider built from another version of the interface
// serves it: SayHello answers an int where the caller expects a string.
var helloV2 = rpc.ServiceDesc{
	Name: hello.HelloServiceName,
	Methods: []rpc.MethodDesc{
		{Name: "SayHello", Params: []rpc.Param{{Name: "a", Type: "string"}, {Name: "b", Type: "string"}}, Results: []string{"int"}, Idempotent: true},
	},
}

// The client's figures record the provider's answer: a caller that cannot decode the
// results it got (a provider built from another version of the interface) fails with
// internal, while its call span and rpc.client.call.duration say ok, as
// docs/OPERATIONS.md ("Metrics") says. The generated client decodes once the
// interceptors returned.
func TestUndecodableResultsAreRecordedAsAnswered(t *testing.T) {
	tel := newTelemetry(t)
	s := rpc.NewServer(rpc.ServerOptions{Logger: quiet, Transport: transport.ServerOptions{ConnOptions: transport.ConnOptions{Logger: quiet}}})
	err := s.Register(&helloV2, []rpc.Handler{func(_ context.Context, args *rpc.Decoder, res *rpc.Encoder) error {
		var a, b string
		args.String(&a)
		args.String(&b)
		if err := args.Finish(); err != nil {
			return err
		}
		rpc.EncodeInt(res, 42)
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(ln)
	t.Cleanup(func() { s.Close() })
	c := rawClient(t, tel, ln.Addr().String())
	_, err = hello.NewHelloClient(c).SayHello(context.Background(), "a", "b")
	if rpc.CodeOf(err) != rpc.CodeInternal {
		t.Fatalf("the caller got %v, want internal: an int is no string", err)
	}
	t.Logf("the caller got: %v (code %v)", err, rpc.CodeOf(err))
	calls, _, _ := spansBy(t, tel, 2)
	for _, sp := range calls {
		if code := attr(sp, "rpc.response.status_code").AsString(); code != "ok" {
			t.Errorf("client call span: rpc.response.status_code %s, want ok, the provider's answer", code)
		}
	}
	var rm metricdata.ResourceMetrics
	if err := tel.reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	ok := uint64(0)
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if h, isHist := m.Data.(metricdata.Histogram[float64]); isHist && m.Name == "rpc.client.call.duration" {
				for _, p := range h.DataPoints {
					if v, _ := p.Attributes.Value(attribute.Key("rpc.response.status_code")); v.AsString() == "ok" {
						ok += p.Count
					}
				}
			}
		}
	}
	if ok != 1 {
		t.Errorf("rpc.client.call.duration: %d calls ok, want 1, the provider's answer", ok)
	}
}
