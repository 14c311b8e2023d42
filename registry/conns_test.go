package registry

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ringrpc/ringrpc/rpc"
	"github.com/ringrpc/ringrpc/transport"
)

var _ rpc.FailureNotifier = (*Registry)(nil)

// A consumer closes its connections to a provider found dead, so that a connection
// that stalled while the provider was cut off is never reused after a heal; a
// provider that left gracefully keeps them until its server drains them.
func TestDeadProviderConnectionsClosed(t *testing.T) {
	for _, tc := range []struct {
		name   string
		dead   bool
		strict bool // the consumer resolves through WithStrategy
	}{
		{"found dead", true, false},
		{"found dead, strategy view", true, true},
		{"left gracefully", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nodes, seeds := cluster(t, 2)
			reg, _ := startConsumer(t, "consumer", seeds, nil)
			var res rpc.Resolver = reg
			if tc.strict {
				res = reg.WithStrategy(RoundRobin)
			}
			c, err := rpc.NewClient(rpc.ClientOptions{Resolver: res, Transport: transport.ClientOptions{ConnOptions: transport.ConnOptions{Logger: quiet}}})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			providersOf(t, reg, whoDesc.Name, 2)
			victim := nodes[1]
			addr := victim.reg.opts.RPCAddr
			conn, err := c.Transport().Conn(context.Background(), addr)
			if err != nil {
				t.Fatal(err)
			}
			if tc.dead {
				victim.reg.Close() // gossip stops without a goodbye; the server still runs
			} else {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				err := victim.reg.Leave(ctx)
				cancel()
				if err != nil {
					t.Fatal(err)
				}
			}
			providersOf(t, reg, whoDesc.Name, 1)
			if !tc.dead {
				// Nothing to wait for: the connection must stay open. The leave event
				// was handed to the watchers before the ring changed; half a second
				// is far more than they take.
				select {
				case <-conn.Closed():
					t.Fatalf("the connection to a provider that left gracefully was closed: %v", conn.Err())
				case <-time.After(500 * time.Millisecond):
				}
				return
			}
			select {
			case <-conn.Closed():
			case <-time.After(5 * time.Second):
				t.Fatal("the connection to a provider found dead is still open 5 s after it left the ring")
			}
			if err := conn.Err(); !errors.Is(err, transport.ErrConnectionLost) || !strings.Contains(err.Error(), "unreachable") {
				t.Fatalf("closed with %v, want connection lost: the provider was found unreachable", err)
			}
		})
	}
}
