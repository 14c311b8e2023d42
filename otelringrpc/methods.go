package otelringrpc

import (
	"maps"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/ringrpc/ringrpc/rpc"
)

// numCodes bounds the codes whose attribute sets are made up front; a larger code
// (from a newer peer) gets its set made on each use.
const numCodes = 32

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
	done              [numCodes]metric.MeasurementOption    // attrs, ringrpc.code
	attempt           [2][numCodes]metric.MeasurementOption // and ringrpc.failover
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
	attrs := []attribute.KeyValue{
		attribute.String("rpc.system", "ringrpc"),
		attribute.String("rpc.service", key.service),
		attribute.String("rpc.method", key.method),
	}
	m := &method{
		name:         key.service + "/" + key.method,
		attemptName:  key.service + "/" + key.method + " attempt",
		attrs:        attrs,
		set:          metric.WithAttributeSet(attribute.NewSet(attrs...)),
		clientStart:  []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...)},
		attemptStart: []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindClient)},
		serverStart:  []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(attrs...)},
	}
	for c := range rpc.Code(numCodes) {
		m.done[c] = measure(attrs, codeAttr(c))
		m.attempt[0][c] = measure(attrs, codeAttr(c), attribute.Bool("ringrpc.failover", false))
		m.attempt[1][c] = measure(attrs, codeAttr(c), attribute.Bool("ringrpc.failover", true))
	}
	return m
}

func measure(attrs []attribute.KeyValue, more ...attribute.KeyValue) metric.MeasurementOption {
	return metric.WithAttributeSet(attribute.NewSet(append(attrs[:len(attrs):len(attrs)], more...)...))
}

func codeAttr(c rpc.Code) attribute.KeyValue {
	return attribute.String("ringrpc.code", c.String())
}

// doneSet returns the measurement option of a call of m that ended with err.
func (m *method) doneSet(err error) metric.MeasurementOption {
	c := rpc.CodeOf(err)
	if c < numCodes {
		return m.done[c]
	}
	return measure(m.attrs, codeAttr(c))
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
	return measure(m.attrs, codeAttr(c), attribute.Bool("ringrpc.failover", failover))
}
