package otelringrpc_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/ringrpc/ringrpc/example/hello"
	"github.com/ringrpc/ringrpc/rpc"
	"github.com/ringrpc/ringrpc/transport"
)

// slowHello takes d to answer, and fails for a == "fail".
type slowHello struct{ d time.Duration }

func (h slowHello) SayHello(ctx context.Context, a, b string) (string, error) {
	select {
	case <-time.After(h.d): // the handler's work
	case <-ctx.Done():
		return "", ctx.Err()
	}
	if a == "fail" {
		return "", errors.New("application says no")
	}
	return "hello " + a + " " + b, nil
}
func (slowHello) SayHelloInteger(_ context.Context, a, b int) (int, error) { return a + b, nil }
func (slowHello) Greet(_ context.Context, id string) (string, error)       { return id, nil }

// worldRec records the span context each SayWorld's handler saw.
type worldRec struct {
	mu  sync.Mutex
	got []trace.SpanContext
	ch  chan struct{}
}

func (w *worldRec) SayWorld(ctx context.Context, a, b string) {
	w.mu.Lock()
	w.got = append(w.got, trace.SpanContextFromContext(ctx))
	w.mu.Unlock()
	w.ch <- struct{}{}
}

// serveHW serves Hello, and World when w is set, instrumented by tel.
func serveHW(t *testing.T, tel *telemetry, h hello.Hello, w hello.World) string {
	t.Helper()
	opts := rpc.ServerOptions{Logger: quiet, Transport: transport.ServerOptions{ConnOptions: transport.ConnOptions{Logger: quiet}}}
	tel.inst.Server(&opts)
	s := rpc.NewServer(opts)
	if err := hello.RegisterHelloServer(s, h); err != nil {
		t.Fatal(err)
	}
	if w != nil {
		if err := hello.RegisterWorldServer(s, w); err != nil {
			t.Fatal(err)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(ln)
	t.Cleanup(func() { s.Close() })
	return ln.Addr().String()
}

// rawClient is an instrumented client of addr.
func rawClient(t *testing.T, tel *telemetry, addr string) *rpc.Client {
	t.Helper()
	opts := rpc.ClientOptions{Resolver: rpc.StaticAddress(addr), Transport: transport.ClientOptions{ConnOptions: transport.ConnOptions{Logger: quiet}}}
	tel.inst.Client(&opts)
	c, err := rpc.NewClient(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// spansBy waits until n spans ended, and sorts them by what they are.
func spansBy(t *testing.T, tel *telemetry, n int) (call, attempt, server []sdktrace.ReadOnlySpan) {
	t.Helper()
	if !eventually(func() bool { return len(tel.spans.Ended()) >= n }) {
		t.Fatalf("%d spans ended, want %d", len(tel.spans.Ended()), n)
	}
	for _, s := range tel.spans.Ended() {
		switch {
		case s.SpanKind() == trace.SpanKindServer:
			server = append(server, s)
		case strings.HasSuffix(s.Name(), " attempt"):
			attempt = append(attempt, s)
		default:
			call = append(call, s)
		}
	}
	return call, attempt, server
}

// An async call's span and duration cover the call until its future completes, the
// provider's span is its child, and a failed call records its error on both sides.
func TestAsyncCallAndErrorSpans(t *testing.T) {
	tel := newTelemetry(t)
	c := rawClient(t, tel, serveHW(t, tel, slowHello{d: 100 * time.Millisecond}, nil))
	f := hello.NewHelloAsyncClient(c).SayHello(context.Background(), "a", "b")
	if got, err := f.Wait(context.Background()); err != nil || got != "hello a b" {
		t.Fatalf("async: %q %v", got, err)
	}
	if _, err := hello.NewHelloClient(c).SayHello(context.Background(), "fail", "b"); err == nil {
		t.Fatal("want an error")
	}
	calls, _, servers := spansBy(t, tel, 6)
	if len(calls) != 2 || len(servers) != 2 {
		t.Fatalf("%d call spans, %d server spans", len(calls), len(servers))
	}
	if d := calls[0].EndTime().Sub(calls[0].StartTime()); d < 100*time.Millisecond {
		t.Errorf("async call span lasted %v, less than the handler's 100ms", d)
	}
	for _, s := range servers {
		found := false
		for _, cs := range calls {
			if s.Parent().SpanID() == cs.SpanContext().SpanID() && s.SpanContext().TraceID() == cs.SpanContext().TraceID() {
				found = true
			}
		}
		if !found {
			t.Errorf("server span %q is not a child of a call span", s.Name())
		}
	}
	for _, s := range []sdktrace.ReadOnlySpan{calls[1], servers[1]} {
		if s.Status().Code != codes.Error || attr(s, "error.type").AsString() != "unknown" || attr(s, "rpc.response.status_code").AsString() != "unknown" {
			t.Errorf("%v span of the failed call: status %v, attributes %v", s.SpanKind(), s.Status(), s.Attributes())
		}
	}
}

// A oneway call's provider span joins the caller's trace and the handler sees it.
func TestOnewayJoinsTheTrace(t *testing.T) {
	tel := newTelemetry(t)
	w := &worldRec{ch: make(chan struct{}, 1)}
	c := rawClient(t, tel, serveHW(t, tel, slowHello{}, w))
	hello.NewWorldClient(c).SayWorld(context.Background(), "a", "b")
	waitFor(t, w.ch, "the oneway call")
	calls, _, servers := spansBy(t, tel, 3)
	if len(calls) != 1 || len(servers) != 1 {
		t.Fatalf("%d call spans, %d server spans", len(calls), len(servers))
	}
	if servers[0].SpanContext().TraceID() != calls[0].SpanContext().TraceID() {
		t.Fatal("oneway: the provider's span is in another trace")
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.got[0].SpanID() != servers[0].SpanContext().SpanID() {
		t.Fatal("oneway: the handler's context does not hold the server span")
	}
}

// semconvSchema is the schema of the version of OpenTelemetry's semantic conventions followed
// (docs/OPERATIONS.md, "Metrics").
const semconvSchema = "https://opentelemetry.io/schemas/1.43.0"

// Spans and metrics follow one version of OpenTelemetry's RPC semantic conventions,
// v1.43.0, the newest the pinned otel module has: rpc.system.name, rpc.method as
// "service/method", the outcome in rpc.response.status_code and, for failures,
// error.type; no attribute of older versions (rpc.system, rpc.service); and names
// the conventions do not define are ringrpc.*.
func TestSemconvNames(t *testing.T) {
	tel := newTelemetry(t)
	c := rawClient(t, tel, serveHW(t, tel, slowHello{}, nil))
	h := hello.NewHelloClient(c)
	if _, err := h.SayHello(context.Background(), "a", "b"); err != nil {
		t.Fatal(err)
	}
	if _, err := h.SayHello(context.Background(), "fail", "b"); err == nil {
		t.Fatal("want an error")
	}
	method := hello.HelloServiceName + "/SayHello"
	calls, attempts, servers := spansBy(t, tel, 6)
	for _, s := range append(append(calls, attempts...), servers...) {
		if s.InstrumentationScope().SchemaURL != semconvSchema {
			t.Errorf("span %q: schema %q, want %q", s.Name(), s.InstrumentationScope().SchemaURL, semconvSchema)
		}
		if attr(s, "rpc.system.name").AsString() != "ringrpc" || attr(s, "rpc.method").AsString() != method {
			t.Errorf("span %q %v: want rpc.system.name ringrpc and rpc.method %s", s.Name(), s.SpanKind(), method)
		}
		for _, old := range []string{"rpc.system", "rpc.service", "ringrpc.code"} {
			if attr(s, old).Type() != attribute.EMPTY {
				t.Errorf("span %q has %s, an attribute of older conventions", s.Name(), old)
			}
		}
	}

	var rm metricdata.ResourceMetrics
	if err := tel.reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	semconvRPCMetrics := map[string]bool{ // semconv v1.43.0 rpcconv
		"rpc.client.call.duration": true, "rpc.server.call.duration": true,
		"rpc.client.request.size": true, "rpc.client.response.size": true,
		"rpc.server.request.size": true, "rpc.server.response.size": true,
	}
	seen := map[string]bool{}
	for _, sm := range rm.ScopeMetrics {
		if sm.Scope.SchemaURL != semconvSchema {
			t.Errorf("meter scope %q: schema %q, want %q", sm.Scope.Name, sm.Scope.SchemaURL, semconvSchema)
		}
		for _, m := range sm.Metrics {
			seen[m.Name] = true
			if strings.HasPrefix(m.Name, "rpc.") && !semconvRPCMetrics[m.Name] {
				t.Errorf("metric %s is in the rpc.* namespace, which OpenTelemetry's RPC conventions own, but they define no such metric", m.Name)
			}
			h, ok := m.Data.(metricdata.Histogram[float64])
			if !ok {
				continue
			}
			outcomes := map[string]string{} // rpc.response.status_code: error.type
			for _, p := range h.DataPoints {
				if v, _ := p.Attributes.Value("rpc.system.name"); v.AsString() != "ringrpc" {
					t.Errorf("%s: rpc.system.name %q, want ringrpc: %v", m.Name, v.AsString(), p.Attributes.ToSlice())
				}
				if v, _ := p.Attributes.Value("rpc.method"); v.AsString() != method {
					t.Errorf("%s: rpc.method %q, want %q", m.Name, v.AsString(), method)
				}
				for _, old := range []attribute.Key{"rpc.system", "rpc.service", "ringrpc.code"} {
					if _, ok := p.Attributes.Value(old); ok {
						t.Errorf("%s has %s, an attribute of older conventions", m.Name, old)
					}
				}
				code, _ := p.Attributes.Value("rpc.response.status_code")
				et, _ := p.Attributes.Value("error.type")
				outcomes[code.AsString()] = et.AsString()
			}
			if want := map[string]string{"ok": "", "unknown": "unknown"}; len(outcomes) != 2 || outcomes["ok"] != "" || outcomes["unknown"] != "unknown" {
				t.Errorf("%s: outcomes (rpc.response.status_code: error.type) %v, want %v", m.Name, outcomes, want)
			}
		}
	}
	for _, name := range []string{"rpc.client.call.duration", "rpc.server.call.duration", "ringrpc.client.active_calls", "ringrpc.server.active_calls", "ringrpc.client.attempts"} {
		if !seen[name] {
			t.Errorf("no metric %s", name)
		}
	}
}
