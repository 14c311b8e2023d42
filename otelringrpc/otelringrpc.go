// Package otelringrpc instruments ringrpc clients and servers with OpenTelemetry: a
// span per call and per attempt, W3C trace context carried from caller to provider,
// and call metrics on both sides. It depends on the OpenTelemetry API only; the
// program chooses the SDK and the exporters.
//
// Switch it on with one line per side:
//
//	inst, err := otelringrpc.New(otelringrpc.Options{})
//	inst.Client(&clientOpts) // before rpc.NewClient
//	inst.Server(&serverOpts) // before rpc.NewServer
//
// and, for the gauges and counters read at each collection, one line per object:
//
//	inst.ObserveServer(server)
//	inst.ObserveClient(client)
//	inst.ObserveRegistry(reg)
//
// Without it, ringrpc's call path runs no instrumentation code at all.
//
// Spans and call metrics follow one version of OpenTelemetry's semantic conventions
// for RPC, v1.43.0, whose schema URL (https://opentelemetry.io/schemas/1.43.0) the
// tracer and the meter carry; names the conventions do not define are ringrpc.*.
//
// Spans: a client span per call named "service/method", with rpc.system.name
// "ringrpc", rpc.method "service/method" and the server.address and server.port of
// the provider that answered (or the last one tried); a stream's lasts from its
// opening to its end. A child span per attempt (a stream's: its opening on one
// provider), named "service/method attempt", with
// the same attributes, the attempt number (ringrpc.attempt, from 0) and, from the
// second attempt on, why the call moved (ringrpc.failover.reason). A server span per
// handled call with client.address and client.port. Every span ends with
// rpc.response.status_code, the ringrpc code name (ok, deadline_exceeded,
// unavailable...: rpc.Code.String); a failed one also has error.type, the same name,
// and the status Error. A client call through which a panic went (a stream's loop
// body runs inside the client's interceptors) ends with error.type "panic" and no
// status code, in its span and its duration, and the panic goes on.
//
// The trace context travels as call metadata under the keys "traceparent" and
// "tracestate" (on the wire: the extFields ringrpc.md.traceparent and
// ringrpc.md.tracestate; docs/PROTOCOL.md). It is injected once per call, a stream's
// in its opening request, so a provider's span is the child of the caller's call
// span.
//
// Call metrics, with the attributes rpc.system.name and rpc.method and, on
// completion, rpc.response.status_code and, for a failure, error.type:
//
//	rpc.client.call.duration     histogram, s  every call, as its caller saw it
//	rpc.server.call.duration     histogram, s  every handled call
//	ringrpc.client.active_calls  up-down       calls in flight on clients
//	ringrpc.server.active_calls  up-down       handlers running
//	ringrpc.client.attempts      counter       attempts, with the outcome of each
//	                                           and ringrpc.failover true after the
//	                                           first
//
// Streams count as calls, from their opening to their end. A call's outcome on the
// client is its provider's answer: results that the caller's generated code then
// cannot decode fail the call with internal, and still count ok here.
//
// What servers, clients and registries count anyway (connections, queues, busy
// answers, shed calls, pending calls, bytes, failovers, members, ring rebuilds,
// isolated providers) is reported by ObserveServer, ObserveClient and
// ObserveRegistry, read at each collection. docs/OPERATIONS.md lists every metric.
package otelringrpc

import (
	"context"
	"net"
	"strconv"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/semconv/v1.43.0/rpcconv"
	"go.opentelemetry.io/otel/trace"

	"github.com/ringrpc/ringrpc/rpc"
)

// ScopeName is the instrumentation scope of the tracer and the meter.
const ScopeName = "github.com/ringrpc/ringrpc/otelringrpc"

// Options configures the instrumentation. The zero value uses OpenTelemetry's global
// providers and propagator.
type Options struct {
	// TracerProvider makes the tracer. Default otel.GetTracerProvider().
	TracerProvider trace.TracerProvider
	// MeterProvider makes the meter. Default otel.GetMeterProvider().
	MeterProvider metric.MeterProvider
	// Propagator carries the trace context in call metadata. Default
	// otel.GetTextMapPropagator(); set propagation.TraceContext{} for W3C trace
	// context when the global one is not configured.
	Propagator propagation.TextMapPropagator
}

// Instrumentation holds the tracer, the meter's instruments and the propagator shared
// by the interceptors it installs.
type Instrumentation struct {
	tracer trace.Tracer
	meter  metric.Meter
	prop   propagation.TextMapPropagator

	methods methods

	clientDuration metric.Float64Histogram
	serverDuration metric.Float64Histogram
	clientActive   metric.Int64UpDownCounter
	serverActive   metric.Int64UpDownCounter
	attempts       metric.Int64Counter
}

// durationBuckets suit calls from tens of microseconds to seconds.
var durationBuckets = []float64{0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// New makes the instruments. It fails only when the meter provider refuses one.
func New(opts Options) (*Instrumentation, error) {
	tp, mp, prop := opts.TracerProvider, opts.MeterProvider, opts.Propagator
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	if prop == nil {
		prop = otel.GetTextMapPropagator()
	}
	m := mp.Meter(ScopeName, metric.WithSchemaURL(semconv.SchemaURL))
	in := &Instrumentation{tracer: tp.Tracer(ScopeName, trace.WithSchemaURL(semconv.SchemaURL)), meter: m, prop: prop}
	var err error
	mk := func(f func() error) {
		if err == nil {
			err = f()
		}
	}
	mk(func() (e error) {
		i := rpcconv.ClientCallDuration{}
		in.clientDuration, e = m.Float64Histogram(i.Name(), metric.WithUnit(i.Unit()),
			metric.WithDescription(i.Description()), metric.WithExplicitBucketBoundaries(durationBuckets...))
		return
	})
	mk(func() (e error) {
		i := rpcconv.ServerCallDuration{}
		in.serverDuration, e = m.Float64Histogram(i.Name(), metric.WithUnit(i.Unit()),
			metric.WithDescription(i.Description()), metric.WithExplicitBucketBoundaries(durationBuckets...))
		return
	})
	mk(func() (e error) {
		in.clientActive, e = m.Int64UpDownCounter("ringrpc.client.active_calls", metric.WithUnit("{call}"), metric.WithDescription("Calls in flight, streams included."))
		return
	})
	mk(func() (e error) {
		in.serverActive, e = m.Int64UpDownCounter("ringrpc.server.active_calls", metric.WithUnit("{call}"), metric.WithDescription("Handlers running, streams included."))
		return
	})
	mk(func() (e error) {
		in.attempts, e = m.Int64Counter("ringrpc.client.attempts", metric.WithUnit("{attempt}"), metric.WithDescription("Attempts of calls, one per provider tried."))
		return
	})
	if err != nil {
		return nil, err
	}
	return in, nil
}

// Client installs the client interceptors in o: outermost around the call, innermost
// around each attempt. Call it before rpc.NewClient.
func (in *Instrumentation) Client(o *rpc.ClientOptions) {
	o.Interceptors = append([]rpc.Interceptor{in.clientCall}, o.Interceptors...)
	o.AttemptInterceptors = append(o.AttemptInterceptors, in.clientAttempt)
}

// Server installs the server interceptor in o, outermost. Call it before
// rpc.NewServer.
func (in *Instrumentation) Server(o *rpc.ServerOptions) {
	o.Interceptors = append([]rpc.Interceptor{in.serverCall}, o.Interceptors...)
}

func (in *Instrumentation) clientCall(next rpc.Invoker) rpc.Invoker {
	return func(ctx context.Context, call *rpc.Call) (err error) {
		start := time.Now()
		m := in.methods.get(call)
		ctx, span := in.tracer.Start(ctx, m.name, m.clientStart...)
		ctx = in.inject(ctx)
		in.clientActive.Add(ctx, 1, m.set)
		// A stream's loop body runs inside next: should it panic, the call still
		// ends here, and the panic goes on.
		returned := false
		defer func() {
			in.clientActive.Add(ctx, -1, m.set)
			if !returned {
				endPanicked(span)
				in.clientDuration.Record(ctx, time.Since(start).Seconds(), m.panicked)
				return
			}
			end(span, err, serverKeys, call.Peer()) // the provider that answered, or the last one tried
			in.clientDuration.Record(ctx, time.Since(start).Seconds(), m.doneSet(err))
		}()
		err = next(ctx, call)
		returned = true
		return err
	}
}

func (in *Instrumentation) clientAttempt(next rpc.Invoker) rpc.Invoker {
	return func(ctx context.Context, call *rpc.Call) error {
		m := in.methods.get(call)
		ctx, span := in.tracer.Start(ctx, m.attemptName, m.attemptStart...)
		err := next(ctx, call)
		if span.IsRecording() { // what a span that is not kept does not need
			end(span, err, serverKeys, call.Peer(), attemptAttrs(call)...)
		} else {
			span.End()
		}
		in.attempts.Add(ctx, 1, m.attemptSet(err, call.Attempt() > 0))
		return err
	}
}

// attemptAttrs returns the attempt's number and, after the first, why the call
// moved: the error of the attempt before.
func attemptAttrs(call *rpc.Call) []attribute.KeyValue {
	n := attribute.Int("ringrpc.attempt", call.Attempt())
	if prev := call.LastError(); prev != nil && call.Attempt() > 0 {
		return []attribute.KeyValue{n, attribute.String("ringrpc.failover.reason", prev.Error())}
	}
	return []attribute.KeyValue{n}
}

func (in *Instrumentation) serverCall(next rpc.Invoker) rpc.Invoker {
	return func(ctx context.Context, call *rpc.Call) error {
		start := time.Now()
		m := in.methods.get(call)
		ctx = in.prop.Extract(ctx, propagation.MapCarrier(rpc.IncomingMetadata(ctx)))
		ctx, span := in.tracer.Start(ctx, m.name, m.serverStart...)
		in.serverActive.Add(ctx, 1, m.set)
		err := next(ctx, call)
		in.serverActive.Add(ctx, -1, m.set)
		end(span, err, clientKeys, call.Peer())
		in.serverDuration.Record(ctx, time.Since(start).Seconds(), m.doneSet(err))
		return err
	}
}

// inject adds the trace context of ctx to the metadata its calls carry.
func (in *Instrumentation) inject(ctx context.Context) context.Context {
	carrier := propagation.MapCarrier{}
	in.prop.Inject(ctx, carrier)
	if len(carrier) == 0 {
		return ctx
	}
	kv := make([]string, 0, 2*len(carrier))
	for k, v := range carrier {
		kv = append(kv, k, v)
	}
	return rpc.WithMetadata(ctx, kv...)
}

// peerKeys are the attributes of the other side's address and port.
type peerKeys struct{ address, port attribute.Key }

var (
	serverKeys = peerKeys{semconv.ServerAddressKey, semconv.ServerPortKey}
	clientKeys = peerKeys{semconv.ClientAddressKey, semconv.ClientPortKey}
)

// end ends span with the outcome err: the peer's address and port under keys, more,
// rpc.response.status_code and, for a failure, the status and error.type. They are
// set in one go, and only on a span that is kept.
func end(span trace.Span, err error, keys peerKeys, peer string, more ...attribute.KeyValue) {
	if span.IsRecording() {
		out := outcome(rpc.CodeOf(err))
		attrs := make([]attribute.KeyValue, 0, 2+len(more)+len(out))
		attrs = appendPeer(attrs, keys, peer)
		attrs = append(append(attrs, more...), out...)
		span.SetAttributes(attrs...)
		if err != nil {
			span.SetStatus(codes.Error, err.Error())
		}
	}
	span.End()
}

// endPanicked ends span, through which a panic goes.
func endPanicked(span trace.Span) {
	span.SetAttributes(errorPanic)
	span.SetStatus(codes.Error, "panicked")
	span.End()
}

// appendPeer appends the address and port of a host:port address, or the address
// alone when it is not one; nothing when it is empty: no provider was chosen.
func appendPeer(attrs []attribute.KeyValue, keys peerKeys, addr string) []attribute.KeyValue {
	if addr == "" {
		return attrs
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return append(attrs, keys.address.String(addr))
	}
	attrs = append(attrs, keys.address.String(host))
	if p, err := strconv.Atoi(port); err == nil {
		attrs = append(attrs, keys.port.Int(p))
	}
	return attrs
}
