package otelringrpc_test

import (
	"context"
	"maps"
	"testing"

	"github.com/ringrpc/ringrpc/rpc"
	"github.com/ringrpc/ringrpc/transport"
)

// Pools made with transport.Server.NewPool each have a series of their own, named
// "pool N" in the order made: they were all "code 0", their values summed into one.
func TestNewPoolsHaveSeriesOfTheirOwn(t *testing.T) {
	tel := newTelemetry(t)
	s := rpc.NewServer(rpc.ServerOptions{Logger: quiet})
	noop := transport.ProcessorFunc(func(context.Context, *transport.Conn, *transport.Command) (*transport.Command, error) {
		return nil, nil
	})
	slow, err := s.Transport().NewPool(noop, transport.PoolOptions{QueueSize: 11})
	if err != nil {
		t.Fatal(err)
	}
	bulk, err := s.Transport().NewPool(noop, transport.PoolOptions{QueueSize: 22})
	if err != nil {
		t.Fatal(err)
	}
	pick := func(req *transport.Command) *transport.Pool {
		if len(req.Body) > 100 {
			return bulk
		}
		return slow
	}
	if err := s.Transport().RegisterProcessor(77, noop, transport.PoolOptions{QueueSize: 44, Select: pick}); err != nil {
		t.Fatal(err)
	}
	serveRPC(t, s)
	r, err := tel.inst.ObserveServer(s)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Unregister()
	capacities := map[string]int64{}
	for _, p := range collect(t, tel.reader)["ringrpc.server.queue.capacity"] {
		v, _ := p.attrs.Value("ringrpc.pool")
		capacities[v.AsString()] = p.value
	}
	want := map[string]int64{"shared": 10000, rpc.HealthService: 0, "code 77": 44, "pool 2": 11, "pool 3": 22}
	want[rpc.HealthService] = capacities[rpc.HealthService] // its own size, whatever it is
	if !maps.Equal(capacities, want) {
		t.Errorf("ringrpc.server.queue.capacity by ringrpc.pool = %v, want %v: the health service's pool is made first, then NewPool's two", capacities, want)
	}
}
