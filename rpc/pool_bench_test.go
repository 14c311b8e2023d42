package rpc

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"testing"

	"github.com/ringrpc/ringrpc/internal/callers"
	"github.com/ringrpc/ringrpc/transport"
)

// poolConfigs are the ways a hello call can meet ServerOptions.Pools: none configured
// (no selector), another service's pool (a lookup that finds none), the greeter's own
// pool, and a pool for SayHello alone.
var poolConfigs = []struct {
	name  string
	pools map[string]PoolOptions
}{
	{"none", nil},
	{"other", map[string]PoolOptions{"example.com/other.Service": {}}},
	{"service", map[string]PoolOptions{greeterDesc.Name: {}}},
	{"method", map[string]PoolOptions{greeterDesc.Name + ".SayHello": {}}},
}

// BenchmarkSelectPool is the cost a pool configuration adds to each request on the
// connection's reader.
func BenchmarkSelectPool(b *testing.B) {
	req := transport.NewRequest(RequestCode, transport.Fields{
		{Key: HeaderInterface, Value: greeterDesc.Name},
		{Key: HeaderMethod, Value: "SayHello"},
		{Key: headerTimeout, Value: "3000"},
	}, []byte(`["a","b"]`))
	for _, pc := range poolConfigs[1:] {
		b.Run(pc.name, func(b *testing.B) {
			s := NewServer(ServerOptions{Pools: pc.pools, Logger: quiet})
			defer s.Close()
			if err := registerGreeter(s, newGreeter()); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				s.selectPool(req)
			}
		})
	}
}

// BenchmarkSelectHealth is the cost every request pays on the connection's reader for
// the health service's own pool, without ServerOptions.Pools: with the header alone,
// and with 8 metadata fields after it.
func BenchmarkSelectHealth(b *testing.B) {
	header := transport.Fields{
		{Key: HeaderInterface, Value: greeterDesc.Name},
		{Key: HeaderMethod, Value: "SayHello"},
		{Key: headerTimeout, Value: "3000"},
	}
	withMD := slices.Clone(header)
	for i := range 8 {
		withMD = append(withMD, transport.Field{Key: metadataPrefix + "key" + strconv.Itoa(i), Value: "value"})
	}
	s := NewServer(ServerOptions{Logger: quiet})
	defer s.Close()
	for _, bc := range []struct {
		name   string
		fields transport.Fields
	}{{"header", header}, {"metadata=8", withMD}} {
		b.Run(bc.name, func(b *testing.B) {
			req := transport.NewRequest(RequestCode, bc.fields, []byte(`["a","b"]`))
			b.ReportAllocs()
			for b.Loop() {
				s.selectHealth(req)
			}
		})
	}
}

// BenchmarkHelloPools is the hello call with 100 callers against a provider in this
// process, under each pool configuration: the provider's allocations count too.
func BenchmarkHelloPools(b *testing.B) {
	for _, pc := range poolConfigs {
		b.Run(pc.name, func(b *testing.B) {
			s := NewServer(ServerOptions{Pools: pc.pools, Logger: quiet, Transport: transport.ServerOptions{ConnOptions: transport.ConnOptions{Logger: quiet}}})
			if err := registerGreeter(s, newGreeter()); err != nil {
				b.Fatal(err)
			}
			addr := serve(b, s.Serve, s.Close)
			c, err := NewClient(ClientOptions{Resolver: StaticAddress(addr)})
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			h := &greeterClient{c}
			ctx := context.Background()
			callers.Run(b, 100, func() error {
				s, err := h.SayHello(ctx, "a", "b")
				if err == nil && s != "hello a b" {
					err = fmt.Errorf("got %q", s)
				}
				return err
			})
		})
	}
}
