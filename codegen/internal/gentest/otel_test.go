package gentest

import (
	"context"
	"net"
	"testing"
	"time"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/ringrpc/ringrpc/otelringrpc"
	"github.com/ringrpc/ringrpc/rpc"
	"github.com/ringrpc/ringrpc/transport"
)

// tracedFeed serves Feed and calls it through one instrumentation that keeps what it
// records.
type tracedFeed struct {
	feed   Feed
	tp     *sdktrace.TracerProvider
	spans  *tracetest.SpanRecorder
	reader *sdkmetric.ManualReader

	serverEnded serverEnds
}

func newTracedFeed(t *testing.T) *tracedFeed {
	t.Helper()
	spans := tracetest.NewSpanRecorder()
	ended := make(serverEnds, 10)
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans), sdktrace.WithSpanProcessor(ended))
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
	so := rpc.ServerOptions{Logger: quiet, Transport: transport.ServerOptions{ConnOptions: transport.ConnOptions{Logger: quiet}}}
	inst.Server(&so)
	s := rpc.NewServer(so)
	if err := RegisterFeedServer(s, feedImpl{ended: make(chan error, 10)}); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(ln)
	t.Cleanup(func() { s.Close() })
	co := rpc.ClientOptions{Resolver: rpc.StaticAddress(ln.Addr().String()), Transport: transport.ClientOptions{ConnOptions: transport.ConnOptions{Logger: quiet}}}
	inst.Client(&co)
	c, err := rpc.NewClient(co)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &tracedFeed{feed: NewFeedClient(c), tp: tp, spans: spans, reader: reader, serverEnded: ended}
}

// serverEnds tells when a server span ended.
type serverEnds chan struct{}

func (serverEnds) OnStart(context.Context, sdktrace.ReadWriteSpan) {}
func (e serverEnds) OnEnd(s sdktrace.ReadOnlySpan) {
	if s.SpanKind() == trace.SpanKindServer {
		e <- struct{}{}
	}
}
func (serverEnds) Shutdown(context.Context) error   { return nil }
func (serverEnds) ForceFlush(context.Context) error { return nil }

// spansOf waits until the provider's span ended, and returns the client span under
// parent, that span's children and the server span.
func (tf *tracedFeed) spansOf(t *testing.T, parent trace.SpanID) (call sdktrace.ReadOnlySpan, children []sdktrace.ReadOnlySpan, server sdktrace.ReadOnlySpan) {
	t.Helper()
	select {
	case <-tf.serverEnded:
	case <-time.After(10 * time.Second):
		t.Fatal("the provider's span did not end")
	}
	ended := tf.spans.Ended()
	for _, s := range ended {
		switch {
		case s.SpanKind() == trace.SpanKindServer:
			server = s
		case s.Parent().SpanID() == parent:
			call = s
		}
	}
	for _, s := range ended {
		if call != nil && s.Parent().SpanID() == call.SpanContext().SpanID() && s.SpanKind() != trace.SpanKindServer {
			children = append(children, s)
		}
	}
	return call, children, server
}

// clientCalls returns the count of rpc.client.call.duration.
func (tf *tracedFeed) clientCalls(t *testing.T) uint64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := tf.reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	var n uint64
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if h, ok := m.Data.(metricdata.Histogram[float64]); ok && m.Name == "rpc.client.call.duration" {
				for _, p := range h.DataPoints {
					n += p.Count
				}
			}
		}
	}
	return n
}

// TestStreamTraces: a stream called under a span gets a client span of its own, in
// the caller's trace, that lasts from its opening until the caller saw its end and
// records its outcome; an attempt span for its opening; the provider's span as the
// client span's child; and a point of rpc.client.call.duration.
func TestStreamTraces(t *testing.T) {
	lines := func(yield func(string) bool) {
		for _, m := range []string{"a", "b", "c"} {
			if !yield(m) {
				return
			}
		}
	}
	for _, tc := range []struct {
		name, method string
		failed       string // the error.type of a failed call
		run          func(ctx context.Context, f Feed) (last time.Time, err error)
	}{
		{"server stream", "Watch", "", func(ctx context.Context, f Feed) (last time.Time, err error) {
			for _, err := range f.Watch(ctx, "news", 3) {
				if err != nil {
					return last, err
				}
				last = time.Now()
			}
			return last, nil
		}},
		{"server stream error", "Watch", "not_found", func(ctx context.Context, f Feed) (last time.Time, err error) {
			for _, err := range f.Watch(ctx, "bad", 2) {
				if err != nil {
					return last, nil
				}
				last = time.Now()
			}
			return last, nil
		}},
		{"client stream", "Upload", "", func(ctx context.Context, f Feed) (time.Time, error) {
			_, err := f.Upload(ctx, func(yield func(Chunk) bool) { yield(Chunk{Data: []byte("x")}) })
			return time.Time{}, err
		}},
		{"bidi", "Chat", "", func(ctx context.Context, f Feed) (last time.Time, err error) {
			for _, err := range f.Chat(ctx, lines) {
				if err != nil {
					return last, err
				}
				last = time.Now()
			}
			return last, nil
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tf := newTracedFeed(t)
			ctx, parent := tf.tp.Tracer("test").Start(context.Background(), "parent")
			last, err := tc.run(ctx, tf.feed)
			parent.End()
			if err != nil {
				t.Fatal(err)
			}
			call, attempts, server := tf.spansOf(t, parent.SpanContext().SpanID())
			if call == nil || server == nil {
				t.Fatalf("client span %v, server span %v", call, server)
			}
			if want := FeedServiceName + "/" + tc.method; call.Name() != want {
				t.Errorf("client span %q, want %q", call.Name(), want)
			}
			if call.Parent().SpanID() != parent.SpanContext().SpanID() || call.SpanContext().TraceID() != parent.SpanContext().TraceID() {
				t.Error("the client span is not the caller's span's child")
			}
			if server.SpanContext().TraceID() != call.SpanContext().TraceID() || server.Parent().SpanID() != call.SpanContext().SpanID() {
				t.Errorf("the provider's span is in trace %s under %s, not the client span's child", server.SpanContext().TraceID(), server.Parent().SpanID())
			}
			if len(attempts) != 1 {
				t.Errorf("%d attempt spans, want 1", len(attempts))
			}
			if call.EndTime().Before(last) || call.EndTime().Before(server.EndTime()) {
				t.Errorf("the client span ended at %v, before the caller's last message (%v) or the provider's end (%v)", call.EndTime(), last, server.EndTime())
			}
			var errType string
			for _, kv := range call.Attributes() {
				if kv.Key == "error.type" {
					errType = kv.Value.AsString()
				}
			}
			if errType != tc.failed || (call.Status().Code == codes.Error) != (tc.failed != "") {
				t.Errorf("client span status %v, error.type %q; want error.type %q", call.Status(), errType, tc.failed)
			}
			if n := tf.clientCalls(t); n != 1 {
				t.Errorf("rpc.client.call.duration counted %d calls, want 1", n)
			}
		})
	}
}

// TestStreamPanicEndsTheSpan: a caller's loop body that panics, which runs inside the
// client's interceptors, still ends the stream's span and takes the stream out of
// the calls in flight.
func TestStreamPanicEndsTheSpan(t *testing.T) {
	tf := newTracedFeed(t)
	ctx, parent := tf.tp.Tracer("test").Start(context.Background(), "parent")
	func() {
		defer func() {
			if r := recover(); r != "the loop body fell over" {
				t.Fatalf("recovered %v", r)
			}
		}()
		for range tf.feed.Watch(ctx, "forever", -1) {
			panic("the loop body fell over")
		}
	}()
	parent.End()
	call, _, _ := tf.spansOf(t, parent.SpanContext().SpanID())
	if call == nil {
		t.Fatal("the stream's client span did not end")
	}
	var errType string
	for _, kv := range call.Attributes() {
		if kv.Key == "error.type" {
			errType = kv.Value.AsString()
		}
	}
	if call.Status().Code != codes.Error || errType != "panic" {
		t.Errorf("the client span: status %v, error.type %q; want an error of type panic", call.Status(), errType)
	}
	var rm metricdata.ResourceMetrics
	if err := tf.reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if s, ok := m.Data.(metricdata.Sum[int64]); ok && m.Name == "ringrpc.client.active_calls" {
				for _, p := range s.DataPoints {
					if p.Value != 0 {
						t.Errorf("%s: %d after the stream ended", m.Name, p.Value)
					}
				}
			}
		}
	}
	if n := tf.clientCalls(t); n != 1 {
		t.Errorf("rpc.client.call.duration counted %d calls, want 1", n)
	}
}
