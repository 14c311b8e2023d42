package otelringrpc

import (
	"context"
	"strconv"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/ringrpc/ringrpc/registry"
	"github.com/ringrpc/ringrpc/rpc"
)

// The observers below report what servers, clients and registries count anyway
// (their Stats methods): the meter reads them when it collects, so they cost the
// call path nothing.

// ObserveServer reports s's connections, requests in flight, queues, busy answers,
// shed calls and bytes at each collection, with attrs added to every point (say,
// server.address, to tell two servers of one process apart). Unregister the
// returned registration to stop.
func (in *Instrumentation) ObserveServer(s *rpc.Server, attrs ...attribute.KeyValue) (metric.Registration, error) {
	m := in.meter
	var err error
	conns := upDown(m, &err, "ringrpc.server.connections", "{connection}", "Connections open.")
	inflight := upDown(m, &err, "ringrpc.server.requests.in_flight", "{request}", "Requests accepted and not yet answered: waiting for a worker or running.")
	queued := upDown(m, &err, "ringrpc.server.queue.depth", "{request}", "Requests waiting for a worker, per pool.")
	capacity := upDown(m, &err, "ringrpc.server.queue.capacity", "{request}", "Requests a pool's queue holds before new ones are answered busy.")
	busy := counter(m, &err, "ringrpc.server.busy", "{request}", "Requests answered SYSTEM_BUSY because their pool's queue was full.")
	shed := counter(m, &err, "ringrpc.server.shed", "{call}", "Calls not run because they expired or were cancelled while waiting for a worker.")
	nio := counter(m, &err, "ringrpc.server.network.io", "By", "Bytes of frames read and written.")
	if err != nil {
		return nil, err
	}
	base := attribute.NewSet(attrs...)
	return m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		st := s.Stats()
		t := st.Transport
		o.ObserveInt64(conns, int64(t.Conns), metric.WithAttributeSet(base))
		o.ObserveInt64(inflight, int64(t.InFlight), metric.WithAttributeSet(base))
		made := 0 // pools of NewPool so far, which are numbered in the order made
		for _, p := range st.Pools {
			if p.Pool != nil {
				made++
			}
			pool := with(attrs, attribute.String("ringrpc.pool", poolName(p, made)))
			o.ObserveInt64(queued, int64(p.Queued), pool)
			o.ObserveInt64(capacity, int64(p.QueueSize), pool)
			o.ObserveInt64(busy, int64(p.Busy), pool)
		}
		o.ObserveInt64(shed, int64(st.Expired), with(attrs, attribute.String("ringrpc.reason", "expired")))
		o.ObserveInt64(shed, int64(st.Cancelled), with(attrs, attribute.String("ringrpc.reason", "cancelled")))
		observeIO(o, nio, attrs, t.BytesRead, t.BytesWritten)
		return nil
	}, conns, inflight, queued, capacity, busy, shed, nio)
}

// ObserveClient reports c's connections, calls waiting for a response, failovers
// and bytes at each collection, with attrs added to every point.
func (in *Instrumentation) ObserveClient(c *rpc.Client, attrs ...attribute.KeyValue) (metric.Registration, error) {
	m := in.meter
	var err error
	conns := upDown(m, &err, "ringrpc.client.connections", "{connection}", "Connections open.")
	pending := upDown(m, &err, "ringrpc.client.pending_calls", "{call}", "Calls sent and waiting for their response.")
	failovers := counter(m, &err, "ringrpc.client.failovers", "{attempt}", "Moves of calls to another provider after a failed attempt.")
	nio := counter(m, &err, "ringrpc.client.network.io", "By", "Bytes of frames read and written.")
	if err != nil {
		return nil, err
	}
	base := attribute.NewSet(attrs...)
	return m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		st := c.Stats()
		o.ObserveInt64(conns, int64(st.Transport.Conns), metric.WithAttributeSet(base))
		o.ObserveInt64(pending, int64(st.Transport.Pending), metric.WithAttributeSet(base))
		o.ObserveInt64(failovers, int64(st.Failovers), metric.WithAttributeSet(base))
		observeIO(o, nio, attrs, st.Transport.BytesRead, st.Transport.BytesWritten)
		return nil
	}, conns, pending, failovers, nio)
}

// ObserveRegistry reports r's members by state, ring rebuilds and providers in
// isolation at each collection, with attrs added to every point.
func (in *Instrumentation) ObserveRegistry(r *registry.Registry, attrs ...attribute.KeyValue) (metric.Registration, error) {
	m := in.meter
	var err error
	members := upDown(m, &err, "ringrpc.registry.members", "{member}", "Cluster members as this node sees them, by state.")
	rebuilds := counter(m, &err, "ringrpc.registry.ring.rebuilds", "{ring}", "Service rings rebuilt because their providers changed.")
	isolated := upDown(m, &err, "ringrpc.registry.isolated_providers", "{provider}", "Providers tried last because a call to them failed lately.")
	if err != nil {
		return nil, err
	}
	base := attribute.NewSet(attrs...)
	return m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		st := r.Stats()
		for _, s := range []struct {
			state registry.MemberState
			n     int
		}{{registry.StateAlive, st.Alive}, {registry.StateSyncing, st.Syncing}, {registry.StateDoubted, st.Doubted}} {
			o.ObserveInt64(members, int64(s.n), with(attrs, attribute.String("ringrpc.member.state", s.state.String())))
		}
		o.ObserveInt64(rebuilds, int64(st.RingRebuilds), metric.WithAttributeSet(base))
		o.ObserveInt64(isolated, int64(st.Isolated), metric.WithAttributeSet(base))
		return nil
	}, members, rebuilds, isolated)
}

func upDown(m metric.Meter, err *error, name, unit, desc string) metric.Int64ObservableUpDownCounter {
	if *err != nil {
		return nil
	}
	inst, e := m.Int64ObservableUpDownCounter(name, metric.WithUnit(unit), metric.WithDescription(desc))
	*err = e
	return inst
}

func counter(m metric.Meter, err *error, name, unit, desc string) metric.Int64ObservableCounter {
	if *err != nil {
		return nil
	}
	inst, e := m.Int64ObservableCounter(name, metric.WithUnit(unit), metric.WithDescription(desc))
	*err = e
	return inst
}

// with returns the option of the attributes attrs and one more.
func with(attrs []attribute.KeyValue, kv attribute.KeyValue) metric.MeasurementOption {
	return metric.WithAttributes(append(attrs[:len(attrs):len(attrs)], kv)...)
}

// observeIO reports bytes read and written under network.io.direction, as
// OpenTelemetry's system.network.io does.
func observeIO(o metric.Observer, inst metric.Int64ObservableCounter, attrs []attribute.KeyValue, read, written uint64) {
	o.ObserveInt64(inst, int64(read), with(attrs, attribute.String("network.io.direction", "receive")))
	o.ObserveInt64(inst, int64(written), with(attrs, attribute.String("network.io.direction", "transmit")))
}

// poolName is a pool's ringrpc.pool attribute, as docs/OPERATIONS.md lists them:
// "shared" for the server's common pool; its key in rpc.ServerOptions.Pools, or
// rpc.HealthService for the health service's, for a pool with a name; "default" for
// the transport server's default processor; "code N" for the processor of request
// code N; "pool N" for the Nth pool transport.Server.NewPool made, when it has no name
// (the health service's is the first: a program's first pool of its own is "pool 2").
func poolName(p rpc.PoolStats, made int) string {
	switch {
	case p.Name != "":
		return p.Name
	case p.Pool != nil:
		return "pool " + strconv.Itoa(made)
	case p.Default:
		return "default"
	case p.Code == rpc.RequestCode:
		return "shared"
	}
	return "code " + strconv.Itoa(int(p.Code))
}
