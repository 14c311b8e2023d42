package otelringrpc

import (
	"maps"
	"slices"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/ringrpc/ringrpc/rpc"
)

// numCodes bounds the codes whose attribute sets are made up front; a larger code
// (from a newer peer) gets its set made on each use.
const numCodes = 32

// systemName is rpc.system.name, the RPC system, which the conventions leave open.
var systemName = semconv.RPCSystemNameKey.String("ringrpc")

// errorPanic is the error.type of a call through which a panic went: it has no
// code.
var errorPanic = semconv.ErrorTypeKey.String("panic")

// outcomes holds, by code, the attributes of a call's outcome.
var outcomes = func() (o [numCodes][]attribute.KeyValue) {
	for c := range rpc.Code(numCodes) {
		o[c] = outcomeOf(c)
	}
	return o
}()

// outcomeOf returns the attributes of an outcome of code c: its name as
// rpc.response.status_code and, for a failure, as error.type.
func outcomeOf(c rpc.Code) []attribute.KeyValue {
	name := c.String()
	if c == rpc.CodeOK {
		return []attribute.KeyValue{semconv.RPCResponseStatusCode(name)}
	}
	return []attribute.KeyValue{semconv.RPCResponseStatusCode(name), semconv.ErrorTypeKey.String(name)}
}

// outcome returns the attributes of an outcome of code c.
func outcome(c rpc.Code) []attribute.KeyValue {
	if c < numCodes {
		return outcomes[c]
	}
	return outcomeOf(c)
}

// method is what the interceptors need of one method, made once: span names and
// options, and the attribute sets of its measurements, which the meter would
// otherwise build on every call.
type method struct {
	name, attemptName string
	attrs             []attribute.KeyValue
	set               metric.MeasurementOption
	clientStart       []trace.SpanStartOption
	attemptStart      []trace.SpanStartOption
	serverStart       []trace.SpanStartOption
	done              [numCodes]metric.MeasurementOption    // attrs and the outcome's
	attempt           [2][numCodes]metric.MeasurementOption // and ringrpc.failover
	panicked          metric.MeasurementOption              // attrs, error.type panic
}

type methodKey struct{ service, method string }

// methods maps methods to their method, copied on write: a method is added once,
// and every call looks one up without a lock.
type methods struct {
	m  atomic.Pointer[map[methodKey]*method]
	mu sync.Mutex // serialises additions
}

func (ms *methods) get(call *rpc.Call) *method {
	key := methodKey{call.Service(), call.Method()}
	if p := ms.m.Load(); p != nil {
		if m := (*p)[key]; m != nil {
			return m
		}
	}
	ms.mu.Lock()
	defer ms.mu.Unlock()
	next := map[methodKey]*method{}
	if p := ms.m.Load(); p != nil {
		if m := (*p)[key]; m != nil {
			return m
		}
		next = maps.Clone(*p)
	}
	m := newMethod(key)
	next[key] = m
	ms.m.Store(&next)
	return m
}

func newMethod(key methodKey) *method {
	name := key.service + "/" + key.method
	attrs := []attribute.KeyValue{systemName, semconv.RPCMethod(name)}
	m := &method{
		name:         name,
		attemptName:  name + " attempt",
		attrs:        attrs,
		set:          metric.WithAttributeSet(attribute.NewSet(attrs...)),
		clientStart:  []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...)},
		attemptStart: []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...)},
		serverStart:  []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(attrs...)},
	}
	m.panicked = measure(attrs, errorPanic)
	for c := range rpc.Code(numCodes) {
		m.done[c] = measure(attrs, outcomes[c]...)
		m.attempt[0][c] = measure(attrs, attemptOutcome(c, false)...)
		m.attempt[1][c] = measure(attrs, attemptOutcome(c, true)...)
	}
	return m
}

func measure(attrs []attribute.KeyValue, more ...attribute.KeyValue) metric.MeasurementOption {
	return metric.WithAttributeSet(attribute.NewSet(append(attrs[:len(attrs):len(attrs)], more...)...))
}

// doneSet returns the measurement option of a call of m that ended with err.
func (m *method) doneSet(err error) metric.MeasurementOption {
	c := rpc.CodeOf(err)
	if c < numCodes {
		return m.done[c]
	}
	return measure(m.attrs, outcome(c)...)
}

// attemptSet returns the measurement option of an attempt of m that ended with err.
func (m *method) attemptSet(err error, failover bool) metric.MeasurementOption {
	c, i := rpc.CodeOf(err), 0
	if failover {
		i = 1
	}
	if c < numCodes {
		return m.attempt[i][c]
	}
	return measure(m.attrs, attemptOutcome(c, failover)...)
}

// attemptOutcome returns the attributes of an attempt's outcome of code c: the
// outcome's, and whether the call had moved to another provider.
func attemptOutcome(c rpc.Code, failover bool) []attribute.KeyValue {
	return append(slices.Clip(outcome(c)), attribute.Bool("ringrpc.failover", failover))
}
