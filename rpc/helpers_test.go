package rpc

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/ringrpc/ringrpc/transport"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.Cleanup(func(int) { benchCleanup() }))
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// Item is a struct argument, encoded by go-json.
type Item struct {
	ID    int               `json:"id"`
	Name  string            `json:"name"`
	Tags  []string          `json:"tags,omitempty"`
	Attrs map[string]string `json:"attrs,omitempty"`
	When  time.Time         `json:"when"`
}

// Greeter is the interface the hand-written descriptors below stand for, written the
// way ringrpc-gen writes them.
type Greeter interface {
	SayHello(ctx context.Context, a, b string) (string, error)
	SayHelloInteger(ctx context.Context, a, b int) (int, error)
	Pair(ctx context.Context) (string, int, error)
	Check(ctx context.Context, n int) error
	Notify(ctx context.Context, msg string)
	Fail(ctx context.Context, code Code, msg string) error
	Panic(ctx context.Context) error
	Wait(ctx context.Context) (time.Duration, error)
	Meta(ctx context.Context, key string) (string, error)
	Echo(ctx context.Context, it *Item) (Item, error)
}

var greeterDesc = ServiceDesc{
	Name: "github.com/ringrpc/ringrpc/rpc.Greeter",
	Methods: []MethodDesc{
		{Name: "SayHello", Params: []Param{{Name: "a", Type: "string"}, {Name: "b", Type: "string"}}, Results: []string{"string"}},
		{Name: "SayHelloInteger", Params: []Param{{Name: "a", Type: "int"}, {Name: "b", Type: "int"}}, Results: []string{"int"}},
		{Name: "Pair", Results: []string{"string", "int"}},
		{Name: "Check", Params: []Param{{Name: "n", Type: "int"}}},
		{Name: "Notify", Params: []Param{{Name: "msg", Type: "string"}}, Oneway: true},
		{Name: "Fail", Params: []Param{{Name: "code", Type: "rpc.Code"}, {Name: "msg", Type: "string"}}},
		{Name: "Panic"},
		{Name: "Wait", Results: []string{"time.Duration"}},
		{Name: "Meta", Params: []Param{{Name: "key", Type: "string"}}, Results: []string{"string"}},
		{Name: "Echo", Params: []Param{{Name: "it", Type: "*rpc.Item"}}, Results: []string{"rpc.Item"}},
	},
}

func registerGreeter(s *Server, impl Greeter) error {
	return s.Register(&greeterDesc, []Handler{
		func(ctx context.Context, args *Decoder, res *Encoder) error {
			var a, b string
			args.String(&a)
			args.String(&b)
			if err := args.Finish(); err != nil {
				return err
			}
			r0, err := impl.SayHello(ctx, a, b)
			if err != nil {
				return err
			}
			res.String(r0)
			return nil
		},
		func(ctx context.Context, args *Decoder, res *Encoder) error {
			var a, b int
			DecodeInt(args, &a)
			DecodeInt(args, &b)
			if err := args.Finish(); err != nil {
				return err
			}
			r0, err := impl.SayHelloInteger(ctx, a, b)
			if err != nil {
				return err
			}
			EncodeInt(res, r0)
			return nil
		},
		func(ctx context.Context, args *Decoder, res *Encoder) error {
			if err := args.Finish(); err != nil {
				return err
			}
			r0, r1, err := impl.Pair(ctx)
			if err != nil {
				return err
			}
			res.String(r0)
			EncodeInt(res, r1)
			return nil
		},
		func(ctx context.Context, args *Decoder, res *Encoder) error {
			var n int
			DecodeInt(args, &n)
			if err := args.Finish(); err != nil {
				return err
			}
			return impl.Check(ctx, n)
		},
		func(ctx context.Context, args *Decoder, res *Encoder) error {
			var msg string
			args.String(&msg)
			if err := args.Finish(); err != nil {
				return err
			}
			impl.Notify(ctx, msg)
			return nil
		},
		func(ctx context.Context, args *Decoder, res *Encoder) error {
			var code Code
			DecodeUint(args, &code)
			var msg string
			args.String(&msg)
			if err := args.Finish(); err != nil {
				return err
			}
			return impl.Fail(ctx, code, msg)
		},
		func(ctx context.Context, args *Decoder, res *Encoder) error {
			if err := args.Finish(); err != nil {
				return err
			}
			return impl.Panic(ctx)
		},
		func(ctx context.Context, args *Decoder, res *Encoder) error {
			if err := args.Finish(); err != nil {
				return err
			}
			r0, err := impl.Wait(ctx)
			if err != nil {
				return err
			}
			EncodeInt(res, r0)
			return nil
		},
		func(ctx context.Context, args *Decoder, res *Encoder) error {
			var key string
			args.String(&key)
			if err := args.Finish(); err != nil {
				return err
			}
			r0, err := impl.Meta(ctx, key)
			if err != nil {
				return err
			}
			res.String(r0)
			return nil
		},
		func(ctx context.Context, args *Decoder, res *Encoder) error {
			var it *Item
			args.Value(&it)
			if err := args.Finish(); err != nil {
				return err
			}
			r0, err := impl.Echo(ctx, it)
			if err != nil {
				return err
			}
			res.Value(&r0)
			return nil
		},
	})
}

// greeterClient is what ringrpc-gen writes for Greeter.
type greeterClient struct{ c *Client }

func (x *greeterClient) SayHello(ctx context.Context, a, b string) (string, error) {
	call := x.c.NewCall(&greeterDesc, 0)
	call.Args.String(a)
	call.Args.String(b)
	var r0 string
	d, err := x.c.Invoke(ctx, call)
	if err != nil {
		return r0, err
	}
	d.String(&r0)
	return r0, d.Finish()
}

func (x *greeterClient) SayHelloInteger(ctx context.Context, a, b int) (int, error) {
	call := x.c.NewCall(&greeterDesc, 1)
	EncodeInt(&call.Args, a)
	EncodeInt(&call.Args, b)
	var r0 int
	d, err := x.c.Invoke(ctx, call)
	if err != nil {
		return r0, err
	}
	DecodeInt(&d, &r0)
	return r0, d.Finish()
}

func (x *greeterClient) Pair(ctx context.Context) (string, int, error) {
	call := x.c.NewCall(&greeterDesc, 2)
	var r0 string
	var r1 int
	d, err := x.c.Invoke(ctx, call)
	if err != nil {
		return r0, r1, err
	}
	d.String(&r0)
	DecodeInt(&d, &r1)
	return r0, r1, d.Finish()
}

func (x *greeterClient) Check(ctx context.Context, n int) error {
	call := x.c.NewCall(&greeterDesc, 3)
	EncodeInt(&call.Args, n)
	d, err := x.c.Invoke(ctx, call)
	if err != nil {
		return err
	}
	return d.Finish()
}

func (x *greeterClient) Notify(ctx context.Context, msg string) {
	call := x.c.NewCall(&greeterDesc, 4)
	call.Args.String(msg)
	_ = x.c.InvokeOneway(ctx, call)
}

func (x *greeterClient) Fail(ctx context.Context, code Code, msg string) error {
	call := x.c.NewCall(&greeterDesc, 5)
	EncodeUint(&call.Args, code)
	call.Args.String(msg)
	d, err := x.c.Invoke(ctx, call)
	if err != nil {
		return err
	}
	return d.Finish()
}

func (x *greeterClient) Panic(ctx context.Context) error {
	d, err := x.c.Invoke(ctx, x.c.NewCall(&greeterDesc, 6))
	if err != nil {
		return err
	}
	return d.Finish()
}

func (x *greeterClient) Wait(ctx context.Context) (time.Duration, error) {
	var r0 time.Duration
	d, err := x.c.Invoke(ctx, x.c.NewCall(&greeterDesc, 7))
	if err != nil {
		return r0, err
	}
	DecodeInt(&d, &r0)
	return r0, d.Finish()
}

func (x *greeterClient) Meta(ctx context.Context, key string) (string, error) {
	call := x.c.NewCall(&greeterDesc, 8)
	call.Args.String(key)
	var r0 string
	d, err := x.c.Invoke(ctx, call)
	if err != nil {
		return r0, err
	}
	d.String(&r0)
	return r0, d.Finish()
}

func (x *greeterClient) Echo(ctx context.Context, it *Item) (Item, error) {
	call := x.c.NewCall(&greeterDesc, 9)
	call.Args.Value(&it)
	var r0 Item
	d, err := x.c.Invoke(ctx, call)
	if err != nil {
		return r0, err
	}
	d.Value(&r0)
	return r0, d.Finish()
}

// sayHelloAsync is what ringrpc-gen writes for the async client.
func sayHelloAsync(c *Client, ctx context.Context, a, b string) *Future[string] {
	call := c.NewCall(&greeterDesc, 0)
	call.Args.String(a)
	call.Args.String(b)
	return InvokeAsync(c, ctx, call, func(d *Decoder) (string, error) {
		var r0 string
		d.String(&r0)
		return r0, d.Finish()
	})
}

// greeter is the provider's implementation.
type greeter struct {
	notified chan string
	waiting  chan struct{} // closed... signalled when Wait starts
}

func newGreeter() *greeter {
	return &greeter{notified: make(chan string, 10), waiting: make(chan struct{}, 10)}
}

func (g *greeter) SayHello(_ context.Context, a, b string) (string, error) {
	return "hello " + a + " " + b, nil
}
func (g *greeter) SayHelloInteger(_ context.Context, a, b int) (int, error) { return 1000 + a + b, nil }
func (g *greeter) Pair(context.Context) (string, int, error)                { return "two", 2, nil }
func (g *greeter) Check(_ context.Context, n int) error {
	if n < 0 {
		return errors.New("n must not be negative")
	}
	return nil
}
func (g *greeter) Notify(_ context.Context, msg string) { g.notified <- msg }
func (g *greeter) Fail(_ context.Context, code Code, msg string) error {
	return NewError(code, msg)
}
func (g *greeter) Panic(context.Context) error { panic("the handler fell over") }

// Wait reports the deadline it sees, then waits for the caller to give up.
func (g *greeter) Wait(ctx context.Context) (time.Duration, error) {
	dl, ok := ctx.Deadline()
	if !ok {
		return 0, errors.New("no deadline")
	}
	g.waiting <- struct{}{}
	if time.Until(dl) > time.Second {
		return time.Until(dl), nil
	}
	<-ctx.Done()
	return 0, ctx.Err()
}

func (g *greeter) Meta(ctx context.Context, key string) (string, error) {
	SetReplyMetadata(ctx, "served-by", "greeter")
	return IncomingMetadata(ctx)[key], nil
}

func (g *greeter) Echo(_ context.Context, it *Item) (Item, error) {
	if it == nil {
		return Item{}, NewError(CodeBadArguments, "nil item")
	}
	return *it, nil
}

// startGreeter serves Greeter on loopback until the test ends.
func startGreeter(t testing.TB, opts ServerOptions) (*Server, *greeter, string) {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = quiet
	}
	opts.Transport.Logger = quiet
	s := NewServer(opts)
	g := newGreeter()
	if err := registerGreeter(s, g); err != nil {
		t.Fatal(err)
	}
	addr := serve(t, s.Serve, s.Close)
	return s, g, addr
}

// serve runs a server on a loopback listener until the test ends, then closes it and
// checks that Serve returned because of that; it returns the listener's address.
func serve(t testing.TB, serveFn func(net.Listener) error, closeFn func() error) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- serveFn(ln) }()
	t.Cleanup(func() {
		closeFn()
		if err := waitFor(t, served, "Serve to return"); !errors.Is(err, transport.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	})
	return ln.Addr().String()
}

func newGreeterClient(t testing.TB, opts ClientOptions) (*greeterClient, *Client) {
	t.Helper()
	opts.Transport.Logger = quiet
	c, err := NewClient(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &greeterClient{c}, c
}

func waitFor[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

var benchCleanup = func() {}
