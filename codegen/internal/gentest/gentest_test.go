package gentest

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ringrpc/ringrpc/rpc"
	"github.com/ringrpc/ringrpc/transport"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type impl struct{ rang chan string }

func (impl) SayHello(_ context.Context, a, b string) (string, error) {
	return "hello " + a + " " + b, nil
}
func (impl) SayHelloInteger(_ context.Context, a, b int) (int, error) {
	return 1000 + a + b, nil
}
func (i impl) SayWorld(_ context.Context, a, b string) { i.rang <- "world " + a + " " + b }
func (impl) NoContext(dish string) (string, error)     { return "cooked " + dish, nil }
func (impl) Sum(_ context.Context, label string, nums ...int) (string, int, error) {
	t := 0
	for _, n := range nums {
		t += n
	}
	return label, t, nil
}
func (impl) Check(_ context.Context, ok bool) error {
	if !ok {
		return rpc.Errorf(rpc.CodeFailedPrecondition, "not ok")
	}
	return nil
}
func (impl) Heat(_ context.Context, t Celsius, by float32) (Celsius, error) {
	return t + Celsius(by), nil
}
func (impl) Bytes(_ context.Context, b []byte) ([]byte, error) { return append(b, '!'), nil }
func (impl) Place(_ context.Context, o *Order) (Order, error)  { return *o, nil }
func (impl) Tally(_ context.Context, m map[string][]int) (map[string]int, error) {
	out := map[string]int{}
	for k, v := range m {
		out[k] = len(v)
	}
	return out, nil
}
func (i impl) Ring(bell string) { i.rang <- bell }

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func serve(t testing.TB) (string, impl) {
	t.Helper()
	s := rpc.NewServer(rpc.ServerOptions{Logger: quiet, Transport: transport.ServerOptions{ConnOptions: transport.ConnOptions{Logger: quiet}}})
	im := impl{rang: make(chan string, 10)}
	for _, err := range []error{RegisterHelloServer(s, im), RegisterWorldServer(s, im), RegisterKitchenServer(s, im)} {
		if err != nil {
			t.Fatal(err)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(ln)
	t.Cleanup(func() { s.Close() })
	return ln.Addr().String(), im
}

// client returns a client of the provider at addr, with the attempt interceptors given.
func client(t testing.TB, addr string, attempt ...rpc.Interceptor) *rpc.Client {
	t.Helper()
	c, err := rpc.NewClient(rpc.ClientOptions{Resolver: rpc.StaticAddress(addr), AttemptInterceptors: attempt,
		Transport: transport.ClientOptions{ConnOptions: transport.ConnOptions{Logger: quiet}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func recv(t *testing.T, ch <-chan string) string {
	t.Helper()
	select {
	case s := <-ch:
		return s
	case <-time.After(10 * time.Second):
		t.Fatal("oneway call never arrived")
		return ""
	}
}

func TestGeneratedCalls(t *testing.T) {
	addr, im := serve(t)
	c := client(t, addr)
	ctx := context.Background()
	h, w, k := NewHelloClient(c), NewWorldClient(c), NewKitchenClient(c)

	if s, err := h.SayHello(ctx, "a", "b"); err != nil || s != "hello a b" {
		t.Fatalf("SayHello: %q %v", s, err)
	}
	if n, err := h.SayHelloInteger(ctx, 1, 2); err != nil || n != 1003 {
		t.Fatalf("SayHelloInteger: %d %v", n, err)
	}
	w.SayWorld(ctx, "a", "b")
	if got := recv(t, im.rang); got != "world a b" {
		t.Fatal(got)
	}
	if s, err := k.NoContext("soup"); err != nil || s != "cooked soup" {
		t.Fatalf("NoContext: %q %v", s, err)
	}
	if l, n, err := k.Sum(ctx, "total", 1, 2, 3); err != nil || l != "total" || n != 6 {
		t.Fatalf("Sum: %q %d %v", l, n, err)
	}
	if _, n, err := k.Sum(ctx, "none"); err != nil || n != 0 {
		t.Fatalf("Sum(): %d %v", n, err)
	}
	if err := k.Check(ctx, true); err != nil {
		t.Fatal(err)
	}
	if err := k.Check(ctx, false); rpc.CodeOf(err) != rpc.CodeFailedPrecondition || !strings.Contains(err.Error(), "not ok") {
		t.Fatalf("Check(false): %v", err)
	}
	if c, err := k.Heat(ctx, 20, 1.5); err != nil || c != 21.5 {
		t.Fatalf("Heat: %v %v", c, err)
	}
	if b, err := k.Bytes(ctx, []byte{0, 1}); err != nil || string(b) != "\x00\x01!" {
		t.Fatalf("Bytes: %q %v", b, err)
	}
	yes := true
	o := &Order{ID: 9, Items: []string{"tea"}, Placed: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Notes: map[string]string{"k": "v"}, Express: &yes}
	if got, err := k.Place(ctx, o); err != nil || !reflect.DeepEqual(got, *o) {
		t.Fatalf("Place: %+v %v", got, err)
	}
	if got, err := k.Tally(ctx, map[string][]int{"a": {1, 2}, "b": nil}); err != nil || !reflect.DeepEqual(got, map[string]int{"a": 2, "b": 0}) {
		t.Fatalf("Tally: %v %v", got, err)
	}
	k.Ring("ding")
	if got := recv(t, im.rang); got != "ding" {
		t.Fatal(got)
	}
}

func TestGeneratedAsync(t *testing.T) {
	addr, im := serve(t)
	c := client(t, addr)
	ctx := context.Background()
	h, k := NewHelloAsyncClient(c), NewKitchenAsyncClient(c)
	f1 := h.SayHello(ctx, "x", "y")
	f2 := k.Sum(ctx, "s", 4, 5)
	f3 := k.Check(ctx, false)
	if s, err := f1.Wait(ctx); err != nil || s != "hello x y" {
		t.Fatalf("%q %v", s, err)
	}
	if r, err := f2.Wait(ctx); err != nil || r.R0 != "s" || r.R1 != 9 {
		t.Fatalf("%+v %v", r, err)
	}
	if _, err := f3.Wait(ctx); rpc.CodeOf(err) != rpc.CodeFailedPrecondition {
		t.Fatal(err)
	}
	if _, err := k.Ring("dong").Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if got := recv(t, im.rang); got != "dong" {
		t.Fatal(got)
	}
}

// routeRecorder resolves to one address and records the key of each call.
type routeRecorder struct {
	addr string
	keys chan string
}

func (r routeRecorder) Resolve(ctx context.Context, call *rpc.Call, dst []string) ([]string, error) {
	r.keys <- call.RouteKey(ctx)
	return append(dst, r.addr), nil
}

func TestRouteKeys(t *testing.T) {
	addr, _ := serve(t)
	rr := routeRecorder{addr: addr, keys: make(chan string, 10)}
	c, err := rpc.NewClient(rpc.ClientOptions{Resolver: rr})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	k, h, tm := NewKitchenClient(c), NewHelloClient(c), NewTeamsClient(c)
	tests := []struct {
		name string
		call func() error
		key  string
	}{
		{"directive through a pointer", func() error { _, err := k.Place(ctx, &Order{ID: 42}); return err }, "42"},
		{"nil pointer falls back to the first argument", func() error { _, err := k.Place(ctx, nil); return err }, "null"},
		{"first argument's JSON", func() error { _, err := h.SayHello(ctx, "ann", "b"); return err }, `"ann"`},
		{"key on the context wins", func() error { _, err := h.SayHello(rpc.WithRouteKey(ctx, "k1"), "ann", "b"); return err }, "k1"},
		{"field promoted through an embedded pointer", func() error { return tm.Join(ctx, Team{Org: &Org{Slug: "eng"}}) }, "eng"},
		{"nil embedded pointer falls back to the first argument", func() error { return tm.Join(ctx, Team{Name: "x"}) }, `{"Name":"x"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if err != nil && !errors.Is(err, rpc.ErrInternal) && !errors.Is(err, rpc.ErrBadArguments) && rpc.CodeOf(err) != rpc.CodeInternal {
				t.Logf("call error (ignored): %v", err)
			}
			if got := <-rr.keys; got != tc.key {
				t.Fatalf("route key %q, want %q", got, tc.key)
			}
		})
	}
}

// A caller that sends a struct argument of the wrong shape reads which member is
// wrong, as it would for an argument of a basic type; and the descriptor the server
// lists describes the struct.
func TestStructArgumentErrors(t *testing.T) {
	addr, _ := serve(t)
	c := client(t, addr)
	ctx := context.Background()
	place := KitchenServiceDesc.Methods[slices.IndexFunc(KitchenServiceDesc.Methods, func(m rpc.MethodDesc) bool { return m.Name == "Place" })]
	tests := []struct{ args, want string }{
		{`[{"id":"7"}]`, "bad arguments for Place: argument 1 (o): field id: want a number, got a string"},
		{`[{"id":7,"items":["a",{}]}]`, "argument 1 (o): field items: element 1: want a string, got an object"},
		{`[{"id":7,"notes":{"gift":1}}]`, "argument 1 (o): field notes: field gift: want a string, got a number"},
		{`[{"id":7,"express":"yes"}]`, "argument 1 (o): field express: want a boolean, got a string"},
		{`[[]]`, "argument 1 (o): want an object, got an array"},
	}
	for _, tc := range tests {
		_, err := c.InvokeJSON(ctx, KitchenServiceName, place, []byte(tc.args))
		if rpc.CodeOf(err) != rpc.CodeBadArguments || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v\nwant %s", tc.args, err, tc.want)
		}
	}
	descs, err := c.ListServices(ctx)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(descs, func(d rpc.ServiceDesc) bool { return d.Name == KitchenServiceName })
	if i < 0 || !slices.ContainsFunc(descs[i].Types, func(td rpc.TypeDesc) bool {
		return td.Name == "Order" && len(td.Fields) == 5 && td.Fields[0] == rpc.FieldDesc{Name: "id", Go: "ID", Type: "int64"}
	}) {
		t.Fatalf("the listed descriptor does not describe Order: %+v", descs)
	}
}
