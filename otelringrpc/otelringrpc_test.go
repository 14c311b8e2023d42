package otelringrpc_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/goleak"

	"github.com/ringrpc/ringrpc/example/hello"
	"github.com/ringrpc/ringrpc/otelringrpc"
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

// telemetry is an SDK that keeps what it records, for the test to read.
type telemetry struct {
	spans  *tracetest.SpanRecorder
	reader *sdkmetric.ManualReader
	inst   *otelringrpc.Instrumentation
}

func newTelemetry(t *testing.T) *telemetry {
	t.Helper()
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() {
		tp.Shutdown(context.Background())
		mp.Shutdown(context.Background())
	})
	inst, err := otelringrpc.New(otelringrpc.Options{TracerProvider: tp, MeterProvider: mp, Propagator: propagation.TraceContext{}})
	if err != nil {
		t.Fatal(err)
	}
	return &telemetry{spans: spans, reader: reader, inst: inst}
}

// hop is a Hello provider whose SayHello asks next, when set, through its own client.
type hop struct {
	next hello.Hello
}

func (h hop) SayHello(ctx context.Context, a, b string) (string, error) {
	if h.next != nil {
		return h.next.SayHello(ctx, a, b+"+")
	}
	return "hello " + a + " " + b, nil
}
func (h hop) SayHelloInteger(_ context.Context, a, b int) (int, error) { return 1000 + a + b, nil }
func (h hop) Greet(_ context.Context, id string) (string, error)       { return "hi " + id, nil }

func serve(t *testing.T, tel *telemetry, impl hello.Hello) string {
	t.Helper()
	opts := rpc.ServerOptions{Logger: quiet, Transport: transport.ServerOptions{ConnOptions: transport.ConnOptions{Logger: quiet}}}
	tel.inst.Server(&opts)
	s := rpc.NewServer(opts)
	if err := hello.RegisterHelloServer(s, impl); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	t.Cleanup(func() {
		s.Close()
		if err := <-done; !errors.Is(err, transport.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	})
	return ln.Addr().String()
}

func client(t *testing.T, tel *telemetry, res rpc.Resolver) hello.Hello {
	t.Helper()
	opts := rpc.ClientOptions{Resolver: res, Transport: transport.ClientOptions{ConnOptions: transport.ConnOptions{Logger: quiet}}}
	tel.inst.Client(&opts)
	c, err := rpc.NewClient(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return hello.NewHelloClient(c)
}

func attr(s sdktrace.ReadOnlySpan, key string) attribute.Value {
	for _, kv := range s.Attributes() {
		if string(kv.Key) == key {
			return kv.Value
		}
	}
	return attribute.Value{}
}

// A call that fails over shows two attempt spans under one call span, and the
// provider's span joins the caller's trace.
func TestFailoverShowsTwoAttempts(t *testing.T) {
	tel := newTelemetry(t)
	addr := serve(t, tel, hop{})
	res, err := rpc.StaticList("127.0.0.1:1", addr)
	if err != nil {
		t.Fatal(err)
	}
	h := client(t, tel, res)
	if got, err := h.SayHello(context.Background(), "a", "b"); err != nil || got != "hello a b" {
		t.Fatalf("call: %q %v", got, err)
	}
	var call, server sdktrace.ReadOnlySpan
	var attempts []sdktrace.ReadOnlySpan
	for _, s := range tel.spans.Ended() {
		switch {
		case s.SpanKind() == trace.SpanKindServer:
			server = s
		case attr(s, "ringrpc.attempt").Type() != attribute.EMPTY:
			attempts = append(attempts, s)
		default:
			call = s
		}
	}
	if call == nil || server == nil || len(attempts) != 2 {
		t.Fatalf("spans: call %v, server %v, %d attempts", call, server, len(attempts))
	}
	if call.Name() != hello.HelloServiceName+"/SayHello" || attr(call, "rpc.system.name").AsString() != "ringrpc" || attr(call, "rpc.method").AsString() != hello.HelloServiceName+"/SayHello" {
		t.Fatalf("call span %q %v", call.Name(), call.Attributes())
	}
	if _, port, _ := net.SplitHostPort(addr); fmt.Sprint(attr(call, "server.port").AsInt64()) != port {
		t.Fatalf("the call span does not name the provider that answered, port %s: %v", port, call.Attributes())
	}
	for i, a := range attempts {
		if a.Parent().SpanID() != call.SpanContext().SpanID() {
			t.Fatalf("attempt %d is not a child of the call span", i)
		}
		if attr(a, "ringrpc.attempt").AsInt64() != int64(i) {
			t.Fatalf("attempt spans out of order: %v", a.Attributes())
		}
	}
	if attr(attempts[0], "error.type").AsString() != "unavailable" || attr(attempts[0], "server.port").AsInt64() != 1 {
		t.Fatalf("first attempt: %v", attempts[0].Attributes())
	}
	if reason := attr(attempts[1], "ringrpc.failover.reason").AsString(); reason == "" {
		t.Fatalf("second attempt does not say why the call moved: %v", attempts[1].Attributes())
	}
	if server.SpanContext().TraceID() != call.SpanContext().TraceID() || server.Parent().SpanID() != call.SpanContext().SpanID() {
		t.Fatal("the provider's span is not in the caller's trace")
	}
}

// A calls B, and B's handler calls C: one trace, each hop's server span under the
// caller's call span.
func TestTraceCrossesTwoHops(t *testing.T) {
	tel := newTelemetry(t)
	c := serve(t, tel, hop{})
	b := serve(t, tel, hop{next: client(t, tel, rpc.StaticAddress(c))})
	a := client(t, tel, rpc.StaticAddress(b))
	if got, err := a.SayHello(context.Background(), "a", "b"); err != nil || got != "hello a b+" {
		t.Fatalf("two hops: %q %v", got, err)
	}
	spans := tel.spans.Ended()
	traceID := spans[0].SpanContext().TraceID()
	servers := 0
	for _, s := range spans {
		if s.SpanContext().TraceID() != traceID {
			t.Fatalf("span %q is in another trace", s.Name())
		}
		if s.SpanKind() == trace.SpanKindServer {
			servers++
		}
	}
	if servers != 2 || len(spans) != 6 { // per hop: call, attempt, server
		t.Fatalf("%d spans, %d server spans", len(spans), servers)
	}
}

func TestMetrics(t *testing.T) {
	tel := newTelemetry(t)
	addr := serve(t, tel, hop{})
	h := client(t, tel, rpc.StaticAddress(addr))
	for range 3 {
		if _, err := h.SayHello(context.Background(), "a", "b"); err != nil {
			t.Fatal(err)
		}
	}
	var rm metricdata.ResourceMetrics
	if err := tel.reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	counts := map[string]uint64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					counts[m.Name] += p.Count
				}
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					counts[m.Name] += uint64(p.Value)
				}
			}
		}
	}
	for name, want := range map[string]uint64{
		"rpc.client.call.duration":    3,
		"rpc.server.call.duration":    3,
		"ringrpc.client.attempts":     3,
		"ringrpc.client.active_calls": 0,
		"ringrpc.server.active_calls": 0,
	} {
		if counts[name] != want {
			t.Errorf("%s: %d, want %d (all: %v)", name, counts[name], want, counts)
		}
	}
}
