package registry

import (
	"context"
	"testing"

	"github.com/ringrpc/ringrpc/rpc"
)

// A registry and its strategy views tell at once whether they know a provider of a
// call's service, and name the same ones Resolve would: a client makes what a wait
// needs only for calls that must wait.
func TestResolveNow(t *testing.T) {
	p := startProvider(t, "p1", nil, nil)
	reg, c := startConsumer(t, "c1", []string{p.reg.GossipAddr()}, nil)
	if _, err := who(context.Background(), c, "k"); err != nil { // the ring has p1
		t.Fatal(err)
	}
	for _, r := range []rpc.Resolver{reg, reg.WithStrategy(RoundRobin)} {
		now, ok := r.(rpc.ImmediateResolver)
		if !ok {
			t.Fatalf("%T is no rpc.ImmediateResolver", r)
		}
		known := c.NewCall(&whoDesc, 0)
		known.SetRouteKey("k")
		addrs, ok := now.ResolveNow(context.Background(), known, nil)
		want, err := r.Resolve(context.Background(), known, nil)
		if !ok || err != nil || len(addrs) == 0 || addrs[0] != want[0] {
			t.Errorf("%T: ResolveNow = %v, %v; Resolve = %v, %v", r, addrs, ok, want, err)
		}
		unknown := c.NewCall(&rpc.ServiceDesc{Name: "test.Nobody", Methods: []rpc.MethodDesc{{Name: "X"}}}, 0)
		if addrs, ok := now.ResolveNow(context.Background(), unknown, nil); ok || len(addrs) > 0 {
			t.Errorf("%T: ResolveNow of a service with no provider = %v, %v; want none, false", r, addrs, ok)
		}
	}
}
