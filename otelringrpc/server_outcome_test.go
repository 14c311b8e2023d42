package otelringrpc_test

import (
	"context"
	"iter"
	"math"
	"net"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/ringrpc/ringrpc/codegen/testdata/streams"
	"github.com/ringrpc/ringrpc/example/hello"
	"github.com/ringrpc/ringrpc/rpc"
	"github.com/ringrpc/ringrpc/transport"
)

// serverOutcomes returns the calls rpc.server.call.duration recorded, by
// rpc.response.status_code.
func serverOutcomes(t *testing.T, tel *telemetry) map[string]uint64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := tel.reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	out := map[string]uint64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if h, ok := m.Data.(metricdata.Histogram[float64]); ok && m.Name == "rpc.server.call.duration" {
				for _, p := range h.DataPoints {
					code, _ := p.Attributes.Value("rpc.response.status_code")
					out[code.AsString()] += p.Count
				}
			}
		}
	}
	return out
}

// checkServerFailed checks that the server's span, rpc.server.call.duration and
// method figures of method say the call failed, as its caller saw it.
func checkServerFailed(t *testing.T, tel *telemetry, s *rpc.Server, method string, callerErr error) {
	t.Helper()
	_, _, servers := spansBy(t, tel, 3)
	for _, sp := range servers {
		if code := attr(sp, "rpc.response.status_code").AsString(); code == "ok" {
			t.Errorf("server span: rpc.response.status_code ok, its caller got %v", rpc.CodeOf(callerErr))
		}
	}
	if got := serverOutcomes(t, tel); got["ok"] != 0 {
		t.Errorf("rpc.server.call.duration by status code: %v: the call counted ok, its caller got %v", got, rpc.CodeOf(callerErr))
	}
	for _, m := range s.MethodStats() {
		if m.Method == method && m.Errors != 1 {
			t.Errorf("method figures of %s (the debug page's): %d calls, %d errors (%v), want the call counted failed", method, m.Calls, m.Errors, m.Codes)
		}
	}
}

// oversized answers SayHello with a result larger than the server's frame limit.
type oversized struct{ hop }

func (oversized) SayHello(context.Context, string, string) (string, error) {
	return strings.Repeat("x", 64<<10), nil
}

// A response over the frame limit is answered SYSTEM_ERROR, "so its caller fails at
// once" (docs/OPERATIONS.md, "Limits and defaults worth knowing"). The server's span,
// its rpc.server.call.duration (whose rpc.response.status_code "is the outcome's code
// name") and its method figures on the debug page ("errors, the error rate, errors by
// code") must not call it a success.
func TestResponseOverFrameLimitIsNotRecordedOK(t *testing.T) {
	tel := newTelemetry(t)
	opts := rpc.ServerOptions{Logger: quiet, Transport: transport.ServerOptions{ConnOptions: transport.ConnOptions{Logger: quiet, MaxFrameSize: 16 << 10}}}
	tel.inst.Server(&opts)
	s := rpc.NewServer(opts)
	if err := hello.RegisterHelloServer(s, oversized{}); err != nil {
		t.Fatal(err)
	}
	s.MethodStats() // count from now
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(ln)
	t.Cleanup(func() { s.Close() })
	_, err = hello.NewHelloClient(rawClient(t, tel, ln.Addr().String())).SayHello(context.Background(), "a", "b")
	if err == nil {
		t.Fatal("a response over the frame limit reached its caller")
	}
	t.Logf("the caller got: %v", err)
	checkServerFailed(t, tel, s, "SayHello", err)
}

// nanSum is a streams.Feed whose Sum answers NaN, which its results' JSON cannot
// carry; its other methods are not called.
type nanSum struct{ streams.Feed }

func (nanSum) Sum(_ context.Context, label string, nums iter.Seq[float64]) (string, float64, error) {
	for range nums {
	}
	return label, math.NaN(), nil
}

// Results that cannot be encoded reach the caller as internal: the server's records
// must say so too.
func TestUnencodableResultsAreNotRecordedOK(t *testing.T) {
	tel := newTelemetry(t)
	opts := rpc.ServerOptions{Logger: quiet, Transport: transport.ServerOptions{ConnOptions: transport.ConnOptions{Logger: quiet}}}
	tel.inst.Server(&opts)
	s := rpc.NewServer(opts)
	if err := streams.RegisterFeedServer(s, nanSum{}); err != nil {
		t.Fatal(err)
	}
	s.MethodStats()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(ln)
	t.Cleanup(func() { s.Close() })
	c := rawClient(t, tel, ln.Addr().String())
	_, _, err = streams.NewFeedClient(c).Sum(context.Background(), "l", func(yield func(float64) bool) { yield(1) })
	if err == nil {
		t.Fatal("NaN reached the caller")
	}
	t.Logf("the caller got: %v", err)
	checkServerFailed(t, tel, s, "Sum", err)
}
