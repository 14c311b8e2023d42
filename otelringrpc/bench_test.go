package otelringrpc_test

import (
	"context"
	"net"
	"testing"

	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/ringrpc/ringrpc/example/hello"
	"github.com/ringrpc/ringrpc/internal/callers"
	"github.com/ringrpc/ringrpc/otelringrpc"
	"github.com/ringrpc/ringrpc/rpc"
	"github.com/ringrpc/ringrpc/transport"
)

// BenchmarkSyncCall is a sync call, client and provider in this process (allocations
// are both sides'), without instrumentation and with it on both sides:
//
//	off          no interceptor installed
//	noop         the API's no-op tracer and meter
//	sampled-out  the SDK's tracer sampling nothing, no-op meter
//	sdk-spans    the SDK's tracer recording every span (no exporter), no-op meter
//	sdk-metrics  no-op tracer, the SDK's meter with a manual reader
//	sdk-all      the SDK's tracer and meter
//
// The observers (ObserveServer...) cost nothing per call: they read counters at
// collection.
func BenchmarkSyncCall(b *testing.B) {
	sdkTracer := func(s sdktrace.Sampler) trace.TracerProvider {
		tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(s))
		b.Cleanup(func() { tp.Shutdown(context.Background()) })
		return tp
	}
	sdkMeter := func() metric.MeterProvider {
		mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
		b.Cleanup(func() { mp.Shutdown(context.Background()) })
		return mp
	}
	modes := []struct {
		name string
		opts func() *otelringrpc.Options
	}{
		{"off", func() *otelringrpc.Options { return nil }},
		{"noop", func() *otelringrpc.Options {
			return &otelringrpc.Options{TracerProvider: tracenoop.NewTracerProvider(), MeterProvider: metricnoop.NewMeterProvider()}
		}},
		{"sampled-out", func() *otelringrpc.Options {
			return &otelringrpc.Options{TracerProvider: sdkTracer(sdktrace.NeverSample()), MeterProvider: metricnoop.NewMeterProvider()}
		}},
		{"sdk-spans", func() *otelringrpc.Options {
			return &otelringrpc.Options{TracerProvider: sdkTracer(sdktrace.AlwaysSample()), MeterProvider: metricnoop.NewMeterProvider()}
		}},
		{"sdk-metrics", func() *otelringrpc.Options {
			return &otelringrpc.Options{TracerProvider: tracenoop.NewTracerProvider(), MeterProvider: sdkMeter()}
		}},
		{"sdk-all", func() *otelringrpc.Options {
			return &otelringrpc.Options{TracerProvider: sdkTracer(sdktrace.AlwaysSample()), MeterProvider: sdkMeter()}
		}},
	}
	for _, mode := range modes {
		b.Run(mode.name, func(b *testing.B) {
			h := benchPair(b, mode.opts())
			ctx := context.Background()
			callers.Run(b, 16, func() error {
				_, err := h.SayHello(ctx, "a", "b")
				return err
			})
		})
	}
}

// benchPair serves Hello and returns a client of it, both instrumented with opts
// unless nil.
func benchPair(b *testing.B, opts *otelringrpc.Options) hello.Hello {
	sopts := rpc.ServerOptions{Logger: quiet, Transport: transport.ServerOptions{ConnOptions: transport.ConnOptions{Logger: quiet}}}
	copts := rpc.ClientOptions{Transport: transport.ClientOptions{ConnOptions: transport.ConnOptions{Logger: quiet}}}
	if opts != nil {
		opts.Propagator = propagation.TraceContext{}
		inst, err := otelringrpc.New(*opts)
		if err != nil {
			b.Fatal(err)
		}
		inst.Server(&sopts)
		inst.Client(&copts)
	}
	s := rpc.NewServer(sopts)
	if err := hello.RegisterHelloServer(s, hop{}); err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go s.Serve(ln)
	b.Cleanup(func() { s.Close() })
	copts.Resolver = rpc.StaticAddress(ln.Addr().String())
	c, err := rpc.NewClient(copts)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	return hello.NewHelloClient(c)
}
