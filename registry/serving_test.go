package registry

import (
	"context"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ringrpc/ringrpc/rpc"
)

// The services a node does not serve travel in its catalog; a catalog without them,
// as older nodes write it, has every service serving.
func TestCatalogNotServing(t *testing.T) {
	for _, c := range []catalog{
		{node: "n1", rpcAddr: "127.0.0.1:7001", version: 3, services: []string{"a.B", "c.D"}},
		{node: "n1", rpcAddr: "127.0.0.1:7001", version: 4, services: []string{"a.B", "c.D"}, notServing: []string{"c.D"}},
	} {
		got, err := decodeCatalog(encodeCatalog(c))
		if err != nil || !reflect.DeepEqual(got, c) {
			t.Fatalf("%+v came back as %+v, %v", c, got, err)
		}
	}
	old := encodeCatalog(catalog{node: "n1", services: []string{"a.B"}})
	withSection := encodeCatalog(catalog{node: "n1", services: []string{"a.B"}, notServing: []string{"a.B"}})
	if !reflect.DeepEqual(withSection[:len(old)], old) {
		t.Fatal("the section of services not serving is not a suffix: older nodes would misread the catalog")
	}
	if _, err := decodeCatalog(append(old, 0, 0, 0, 9)); err == nil {
		t.Fatal("a section claiming 9 services in no bytes decoded")
	}
}

// The push/pull state carries the catalog and the ring digests the node knows; an
// older node reads the catalog out of it, and a newer node reads an older node's
// bare catalog as a state without digests.
func TestPushPullState(t *testing.T) {
	digests := []ringDigest{{node: "n1", seq: 4, digest: 0xabc}, {node: "n2", seq: 9, digest: 0xdef}}
	for _, c := range []catalog{
		{node: "n1", rpcAddr: "127.0.0.1:7001", version: 3, services: []string{"a.B", "c.D"}},
		{node: "n1", rpcAddr: "127.0.0.1:7001", version: 4, services: []string{"a.B", "c.D"}, notServing: []string{"c.D"}},
	} {
		state := encodeState(c, digests)
		gotC, gotD, err := decodeState(state)
		if err != nil || !reflect.DeepEqual(gotC, c) || !reflect.DeepEqual(gotD, digests) {
			t.Fatalf("%+v came back as %+v %+v, %v", c, gotC, gotD, err)
		}
		if old, err := decodeCatalog(state); err != nil || !reflect.DeepEqual(old, c) {
			t.Fatalf("an older node reads %+v as %+v, %v", c, old, err)
		}
		if gotC, gotD, err := decodeState(encodeCatalog(c)); err != nil || !reflect.DeepEqual(gotC, c) || len(gotD) != 0 {
			t.Fatalf("an older node's state %+v came back as %+v %+v, %v", c, gotC, gotD, err)
		}
	}
	state := encodeState(catalog{node: "n1"}, digests)
	if _, _, err := decodeState(state[:len(state)-1]); err == nil {
		t.Fatal("a truncated state decoded")
	}
	m := digestMsg{digests[1], []byte{10, 0, 0, 1}, 7946}
	if d, err := decodeDigest(encodeDigest(m)); err != nil || !reflect.DeepEqual(d, m) {
		t.Fatalf("digest %+v came back as %+v, %v", m, d, err)
	}
}

// A status set before Join holds from the start: the seed never routes to a provider
// that was NOT_SERVING, whole or for the service, when it joined. The seed rebuilds
// its rings a millisecond after each change, so a moment on its ring would be seen.
func TestNotServingBeforeJoinHoldsFromTheStart(t *testing.T) {
	for _, tc := range []struct{ name, service string }{{"whole server", ""}, {"the service", whoDesc.Name}} {
		t.Run(tc.name, func(t *testing.T) {
			seed, _ := startConsumer(t, "c", nil, func(o *Options) { o.Debounce = time.Millisecond })
			routed := make(chan struct{})
			var once sync.Once
			watching := make(chan error, 1)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			go func() {
				watching <- seed.WaitFor(ctx, func(s Snapshot) bool {
					if len(s.Services[whoDesc.Name]) > 0 {
						once.Do(func() { close(routed) })
					}
					for _, m := range s.Members {
						if m.Name == "p" && m.State == StateAlive && len(m.Services) == 1 {
							return true // its catalog is known: it would be on the ring now
						}
					}
					return false
				})
			}()
			startProvider(t, "p", []string{seed.GossipAddr()}, func(o *Options) {
				o.Server.SetServingStatus(tc.service, rpc.StatusNotServing)
			})
			if err := <-watching; err != nil {
				t.Fatal(err)
			}
			select {
			case <-routed:
				t.Fatalf("%s NOT_SERVING before Join, yet the seed routed %s to it", tc.name, whoDesc.Name)
			default:
			}
			if ps := seed.Snapshot().Services[whoDesc.Name]; len(ps) > 0 {
				t.Fatalf("the seed routes to %v", ps)
			}
		})
	}
}

// hookHandler calls fn once on the first record whose message contains sub.
type hookHandler struct {
	sub  string
	once *sync.Once
	fn   func()
}

func (h hookHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h hookHandler) Handle(_ context.Context, r slog.Record) error {
	if strings.Contains(r.Message, h.sub) {
		h.once.Do(h.fn)
	}
	return nil
}
func (h hookHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h hookHandler) WithGroup(string) slog.Handler      { return h }

// A server NOT_SERVING before Join and SERVING again while Join runs ends up on its
// seed's ring: the change between the status Join sends and its subscription to
// changes is not lost. The change is made from memberlist's log line of the join's
// state exchange.
func TestServingSetDuringJoinIsNotLost(t *testing.T) {
	seed, _ := startConsumer(t, "c", nil, nil)
	var srv *rpc.Server
	startProvider(t, "p", []string{seed.GossipAddr()}, func(o *Options) {
		srv = o.Server
		srv.SetServingStatus("", rpc.StatusNotServing)
		o.Logger = slog.New(hookHandler{sub: "push/pull", once: new(sync.Once), fn: func() {
			srv.SetServingStatus("", rpc.StatusServing) // while Join exchanges state
		}})
	})
	if st, _ := srv.ServingStatus(""); st != rpc.StatusServing {
		t.Fatalf("the hook never ran: status %v", st)
	}
	providersOf(t, seed, whoDesc.Name, 1)
}

// TestConcurrentServingStatusKeepsRegistryInStep: two goroutines that set the status
// of one service (or of the whole server) at once, a health checker and an operator's
// endpoint say, leave the registry routing by the status the server reports in the
// end, whichever of their changes reached the registry last.
func TestConcurrentServingStatusKeepsRegistryInStep(t *testing.T) {
	for _, tc := range []struct{ name, service string }{{"service", whoDesc.Name}, {"whole server", ""}} {
		t.Run(tc.name, func(t *testing.T) {
			n := startProvider(t, "p", nil, nil)
			notServing := func() bool {
				n.reg.mu.Lock()
				defer n.reg.mu.Unlock()
				if tc.service == "" {
					return n.reg.notServing
				}
				return slices.Contains(n.reg.own.notServing, tc.service)
			}
			for i := range 5000 {
				var wg sync.WaitGroup
				start := make(chan struct{})
				for _, st := range []rpc.ServingStatus{rpc.StatusNotServing, rpc.StatusServing} {
					wg.Add(1)
					go func() {
						defer wg.Done()
						<-start
						n.server.SetServingStatus(tc.service, st)
					}()
				}
				close(start)
				wg.Wait()
				// Both sets have returned, and with them their calls to the registry.
				st, _ := n.server.ServingStatus(tc.service)
				if got := notServing(); got != (st != rpc.StatusServing) {
					t.Fatalf("iteration %d: the server says %v, the registry routes as if not serving=%v", i, st, got)
				}
			}
		})
	}
}

// TestShutdownAnnouncesNothingAfterLeave: Shutdown leaves the cluster before it
// shuts the server down, which sets the server NOT_SERVING and tells the registry;
// a registry that has left neither logs that change nor announces it (memberlist
// ignores an update after the leave: the announce waited a gossip interval for its
// broadcast and logged the timeout).
func TestShutdownAnnouncesNothingAfterLeave(t *testing.T) {
	var out syncBuffer
	logger := slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug}))
	p := startProvider(t, "p", nil, func(o *Options) { o.Logger = logger })
	reg, _ := startConsumer(t, "c", []string{p.reg.GossipAddr()}, nil)
	providersOf(t, reg, whoDesc.Name, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.reg.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	logs := out.String()
	for _, line := range []string{"serving status changed", "announcing this node's metadata"} {
		if i := strings.Index(logs, line); i >= 0 {
			t.Errorf("a registry that has left logs %q at its own Shutdown:\n%s", line, logs[max(0, i-200):])
		}
	}
}
