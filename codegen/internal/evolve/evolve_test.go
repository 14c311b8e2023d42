// Package evolve_test calls each version of a service with the other over TCP: a
// parameter and a field appended in version 2 are zero when a version 1 caller leaves
// them out, and ignored by a version 1 provider.
package evolve_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/ringrpc/ringrpc/codegen/internal/evolve/v1"
	"github.com/ringrpc/ringrpc/codegen/internal/evolve/v2"
	"github.com/ringrpc/ringrpc/rpc"
	"github.com/ringrpc/ringrpc/transport"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

type store1 struct{}

func (store1) Put(_ context.Context, key string, item v1.Item) (v1.Item, error) {
	item.Name = key + ":" + item.Name
	return item, nil
}

func (store1) Find(_ context.Context, key string) (string, error) { return "v1 " + key, nil }

// store2 reports the ttl it was given in Owner, so the caller can see it.
type store2 struct{}

// Find says which of its optional parameters it was given.
func (store2) Find(_ context.Context, key string, limit *int, since *time.Time, like *v2.Item, tags []string, counts map[string]int) (string, error) {
	return fmt.Sprintf("%s limit=%v since=%v like=%v tags=%v counts=%v", key, limit != nil, since != nil, like != nil, tags != nil, counts != nil), nil
}

func (store2) Put(_ context.Context, key string, item v2.Item, ttl int) (v2.Item, error) {
	item.Name = key + ":" + item.Name
	if ttl == 0 {
		item.Owner += "/forever"
	}
	return item, nil
}

func serve(t *testing.T, register func(*rpc.Server) error) *rpc.Client {
	t.Helper()
	s := rpc.NewServer(rpc.ServerOptions{Logger: quiet, Transport: transport.ServerOptions{ConnOptions: transport.ConnOptions{Logger: quiet}}})
	if err := register(s); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = s.Serve(ln) }()
	c, err := rpc.NewClient(rpc.ClientOptions{Resolver: rpc.StaticAddress(ln.Addr().String()), Transport: transport.ClientOptions{ConnOptions: transport.ConnOptions{Logger: quiet}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); s.Close(); <-done })
	return c
}

func TestOldCallerNewProvider(t *testing.T) {
	c := serve(t, func(s *rpc.Server) error { return v2.RegisterStoreServer(s, store2{}) })
	got, err := v1.NewStoreClient(c).Put(context.Background(), "k", v1.Item{Name: "n", Count: 2})
	if err != nil {
		t.Fatal(err)
	}
	if want := (v1.Item{Name: "k:n", Count: 2}); got != want {
		t.Fatalf("got %+v, want %+v (Owner, which v1 does not know, is dropped)", got, want)
	}
	// The provider saw ttl as 0: its Owner says so, seen by a version 2 caller's
	// decoder of the same response.
	c2 := v2.NewStoreClient(c)
	got2, err := c2.Put(context.Background(), "k", v2.Item{Name: "n", Owner: "o"}, 0)
	if err != nil || got2.Owner != "o/forever" {
		t.Fatalf("got %+v, %v", got2, err)
	}
}

func TestOldCallerMissingArgumentIsZero(t *testing.T) {
	var seen []int
	c := serve(t, func(s *rpc.Server) error {
		return v2.RegisterStoreServer(s, ttlRecorder{seen: &seen})
	})
	if _, err := v1.NewStoreClient(c).Put(context.Background(), "k", v1.Item{}); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 1 || seen[0] != 0 {
		t.Fatalf("ttl seen %v, want [0]", seen)
	}
}

type ttlRecorder struct {
	store2
	seen *[]int
}

func (r ttlRecorder) Put(_ context.Context, _ string, item v2.Item, ttl int) (v2.Item, error) {
	*r.seen = append(*r.seen, ttl)
	return item, nil
}

func TestNewCallerOldProvider(t *testing.T) {
	c := serve(t, func(s *rpc.Server) error { return v1.RegisterStoreServer(s, store1{}) })
	got, err := v2.NewStoreClient(c).Put(context.Background(), "k", v2.Item{Name: "n", Count: 3, Owner: "o"}, 60)
	if err != nil {
		t.Fatal(err)
	}
	if want := (v2.Item{Name: "k:n", Count: 3}); got != want {
		t.Fatalf("got %+v, want %+v (the extra argument and field are ignored)", got, want)
	}
}

// Optional trailing parameters that a version 1 caller leaves out are nil, as their
// zero values are: pointers (of generated codecs and of go-json's), slices and maps.
func TestOldCallerMissingPointersAreNil(t *testing.T) {
	c := serve(t, func(s *rpc.Server) error { return v2.RegisterStoreServer(s, store2{}) })
	got, err := v1.NewStoreClient(c).Find(context.Background(), "k")
	if want := "k limit=false since=false like=false tags=false counts=false"; err != nil || got != want {
		t.Fatalf("got %q, %v; want %q", got, err, want)
	}
	// A version 2 caller that sends them is heard.
	limit, since := 1, time.Unix(0, 0)
	got, err = v2.NewStoreClient(c).Find(context.Background(), "k", &limit, &since, &v2.Item{}, []string{}, map[string]int{})
	if want := "k limit=true since=true like=true tags=true counts=true"; err != nil || got != want {
		t.Fatalf("got %q, %v; want %q", got, err, want)
	}
	// And a version 1 provider ignores them.
	c1 := serve(t, func(s *rpc.Server) error { return v1.RegisterStoreServer(s, store1{}) })
	got, err = v2.NewStoreClient(c1).Find(context.Background(), "k", &limit, nil, nil, nil, nil)
	if err != nil || got != "v1 k" {
		t.Fatalf("got %q, %v; want %q", got, err, "v1 k")
	}
}
