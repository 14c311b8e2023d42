package rpc

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ringrpc/ringrpc/transport"
)

func TestCalls(t *testing.T) {
	_, g, addr := startGreeter(t, ServerOptions{})
	h, c := newGreeterClient(t, ClientOptions{Resolver: StaticAddress(addr)})
	ctx := context.Background()

	if got, err := h.SayHello(ctx, "a", "b"); err != nil || got != "hello a b" {
		t.Fatalf("SayHello = %q, %v", got, err)
	}
	if got, err := h.SayHelloInteger(ctx, 1, 2); err != nil || got != 1003 {
		t.Fatalf("SayHelloInteger = %d, %v", got, err)
	}
	if s, n, err := h.Pair(ctx); err != nil || s != "two" || n != 2 {
		t.Fatalf("Pair = %q %d %v", s, n, err)
	}
	if err := h.Check(ctx, 1); err != nil {
		t.Fatalf("Check: %v", err)
	}
	if err := h.Check(ctx, -1); CodeOf(err) != CodeUnknown || !strings.Contains(err.Error(), "n must not be negative") {
		t.Fatalf("Check(-1): %v (%v)", err, CodeOf(err))
	}
	h.Notify(ctx, "psst")
	if got := waitFor(t, g.notified, "oneway call"); got != "psst" {
		t.Fatal(got)
	}
	when := time.Date(2026, 11, 21, 3, 4, 5, 6, time.UTC)
	in := &Item{ID: 7, Name: "wid<get>", Tags: []string{"a", "é"}, Attrs: map[string]string{"k": "v"}, When: when}
	out, err := h.Echo(ctx, in)
	if err != nil || !reflect.DeepEqual(out, *in) {
		t.Fatalf("Echo = %+v, %v", out, err)
	}
	if _, err := h.Echo(ctx, nil); !errors.Is(err, ErrBadArguments) || !strings.Contains(err.Error(), "nil item") {
		t.Fatalf("Echo(nil): %v", err)
	}

	f := sayHelloAsync(c, ctx, "x", "y")
	if got, err := f.Wait(ctx); err != nil || got != "hello x y" {
		t.Fatalf("async = %q, %v", got, err)
	}
	done := make(chan string, 1)
	f.OnComplete(func(s string, err error) { done <- s })
	if got := waitFor(t, done, "callback after completion"); got != "hello x y" {
		t.Fatal(got)
	}
}

func TestAsyncCallbacksRunOnce(t *testing.T) {
	_, _, addr := startGreeter(t, ServerOptions{})
	_, c := newGreeterClient(t, ClientOptions{Resolver: StaticAddress(addr)})
	var wg sync.WaitGroup
	var mu sync.Mutex
	calls := 0
	for i := range 50 {
		f := sayHelloAsync(c, context.Background(), "n", strings.Repeat("x", i))
		wg.Add(1)
		f.OnComplete(func(s string, err error) {
			defer wg.Done()
			mu.Lock()
			calls++
			mu.Unlock()
			if err != nil || s != "hello n "+strings.Repeat("x", i) {
				t.Errorf("future %d: %q %v", i, s, err)
			}
		})
	}
	wg.Wait()
	if calls != 50 {
		t.Fatalf("%d callbacks for 50 futures", calls)
	}
}

func TestErrors(t *testing.T) {
	_, _, addr := startGreeter(t, ServerOptions{})
	h, c := newGreeterClient(t, ClientOptions{Resolver: StaticAddress(addr)})
	ctx := context.Background()
	invoke := func(svc *ServiceDesc, m int, args ...string) error {
		call := c.NewCall(svc, m)
		for _, a := range args {
			call.Args.String(a)
		}
		d, err := c.Invoke(ctx, call)
		if err != nil {
			return err
		}
		return d.Finish()
	}
	other := ServiceDesc{Name: "no.Such", Methods: []MethodDesc{{Name: "X"}}}
	wrongMethod := ServiceDesc{Name: greeterDesc.Name, Methods: []MethodDesc{{Name: "Missing"}}}
	wrongTypes := ServiceDesc{Name: greeterDesc.Name, Methods: greeterDesc.Methods}

	tests := []struct {
		name     string
		err      error
		sentinel error
		code     Code
		text     string
	}{
		{"service not found", invoke(&other, 0), ErrServiceNotFound, CodeServiceNotFound, `service "no.Such" is not served`},
		{"method not found", invoke(&wrongMethod, 0), ErrMethodNotFound, CodeMethodNotFound, `no method "Missing"`},
		{"bad arguments: wrong type", invoke(&wrongTypes, 1, "one", "two"), ErrBadArguments, CodeBadArguments, "argument 1 (a): want a number, got a string"},
		{"application code", h.Fail(ctx, CodeNotFound, "no such user"), nil, CodeNotFound, "no such user"},
		{"application busy", h.Fail(ctx, CodeBusy, "slow down"), ErrBusy, CodeBusy, "slow down"},
		{"application unavailable", h.Fail(ctx, CodeUnavailable, "down"), ErrUnavailable, CodeUnavailable, "down"},
		{"panic", h.Panic(ctx), ErrInternal, CodeInternal, "Panic panicked: the handler fell over"},
		// A failure is never OK, and codes beyond ringrpc's have no meaning to a caller.
		{"application code 0", h.Fail(ctx, CodeOK, "zero"), nil, CodeUnknown, "zero"},
		{"application code beyond the last", h.Fail(ctx, maxCode+1, "odd"), nil, CodeUnknown, "odd"},
		{"application code far beyond", h.Fail(ctx, Code(math.MaxUint32), "odder"), nil, CodeUnknown, "odder"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.sentinel != nil && !errors.Is(tc.err, tc.sentinel) {
				t.Errorf("errors.Is(%v, %v) is false", tc.err, tc.sentinel)
			}
			if got := CodeOf(tc.err); got != tc.code {
				t.Errorf("CodeOf = %v, want %v (err %v)", got, tc.code, tc.err)
			}
			if tc.err == nil || !strings.Contains(tc.err.Error(), tc.text) {
				t.Errorf("error %v does not say %q", tc.err, tc.text)
			}
		})
	}
	// The provider survived the panic.
	if _, err := h.SayHello(ctx, "still", "up"); err != nil {
		t.Fatal(err)
	}
}

func TestUnavailableAndClosed(t *testing.T) {
	h, c := newGreeterClient(t, ClientOptions{Resolver: StaticAddress("127.0.0.1:1")})
	_, err := h.SayHello(context.Background(), "a", "b")
	if !errors.Is(err, ErrUnavailable) || !errors.Is(err, transport.ErrConnectFailed) {
		t.Fatalf("unreachable provider: %v", err)
	}
	c.Close()
	_, err = h.SayHello(context.Background(), "a", "b")
	if !errors.Is(err, ErrClosed) {
		t.Fatalf("closed client: %v", err)
	}
	f := sayHelloAsync(c, context.Background(), "a", "b")
	if _, err := f.Wait(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("closed client, async: %v", err)
	}
	if _, err := NewClient(ClientOptions{}); err == nil || !strings.Contains(err.Error(), "Resolver is required") {
		t.Fatalf("no resolver: %v", err)
	}
}

func TestDeadlinePropagation(t *testing.T) {
	_, g, addr := startGreeter(t, ServerOptions{})
	h, _ := newGreeterClient(t, ClientOptions{Resolver: StaticAddress(addr), Timeout: 5 * time.Second})

	// The handler sees the caller's deadline: about 5s from the client's default.
	got, err := h.Wait(context.Background())
	<-g.waiting
	if err != nil || got < 4*time.Second || got > 5*time.Second {
		t.Fatalf("handler saw %v of a 5s default deadline (err %v)", got, err)
	}
	// A short context deadline reaches the handler, which gives up with the caller.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err = h.Wait(ctx)
	if !errors.Is(err, ErrDeadlineExceeded) || !errors.Is(err, context.DeadlineExceeded) || CodeOf(err) != CodeDeadlineExceeded {
		t.Fatalf("short deadline: %v", err)
	}
	// Cancelling ends the caller's wait at once. (Under a second left, the handler
	// waits for the end of its context instead of answering.)
	ctx, cancel = context.WithTimeout(context.Background(), 900*time.Millisecond)
	errc := make(chan error, 1)
	go func() {
		_, err := h.Wait(ctx)
		errc <- err
	}()
	<-g.waiting // the call is in the handler
	cancel()
	if err := waitFor(t, errc, "cancelled call"); !errors.Is(err, ErrCanceled) || !errors.Is(err, context.Canceled) {
		t.Fatalf("cancel: %v", err)
	}
	// A deadline already passed is not sent.
	ctx, cancel = context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	if _, err := h.SayHello(ctx, "a", "b"); !errors.Is(err, ErrDeadlineExceeded) {
		t.Fatalf("expired deadline: %v", err)
	}
}

func TestMetadata(t *testing.T) {
	_, _, addr := startGreeter(t, ServerOptions{})
	h, _ := newGreeterClient(t, ClientOptions{Resolver: StaticAddress(addr)})
	var reply Metadata
	ctx := WithMetadata(context.Background(), "user", "ann", "trace", "t-1")
	ctx = WithMetadata(ctx, "trace", "t-2")
	ctx = WithReplyMetadata(ctx, &reply)
	got, err := h.Meta(ctx, "trace")
	if err != nil || got != "t-2" {
		t.Fatalf("provider read trace=%q (%v)", got, err)
	}
	if got, _ := h.Meta(ctx, "user"); got != "ann" {
		t.Fatalf("provider read user=%q", got)
	}
	if reply["served-by"] != "greeter" {
		t.Fatalf("reply metadata %v", reply)
	}
	if SetReplyMetadata(context.Background(), "k", "v") || IncomingMetadata(context.Background()) != nil || PeerFromContext(context.Background()) != "" {
		t.Fatal("server-side accessors work outside a handler")
	}
}

func TestInterceptorOrder(t *testing.T) {
	var mu sync.Mutex
	var trace []string
	record := func(name string) Interceptor {
		return func(next Invoker) Invoker {
			return func(ctx context.Context, call *Call) error {
				mu.Lock()
				trace = append(trace, name+">"+call.Side()+":"+call.Method())
				mu.Unlock()
				err := next(ctx, call)
				mu.Lock()
				trace = append(trace, name+"<"+CodeOf(err).String())
				mu.Unlock()
				return err
			}
		}
	}
	deny := func(next Invoker) Invoker {
		return func(ctx context.Context, call *Call) error {
			if IncomingMetadata(ctx)["token"] != "secret" {
				return NewError(CodeUnauthenticated, "missing token")
			}
			return next(ctx, call)
		}
	}
	_, _, addr := startGreeter(t, ServerOptions{Interceptors: []Interceptor{record("s1"), record("s2"), deny}})
	h, _ := newGreeterClient(t, ClientOptions{Resolver: StaticAddress(addr), Interceptors: []Interceptor{record("c1"), record("c2")}})

	if _, err := h.SayHello(WithMetadata(context.Background(), "token", "secret"), "a", "b"); err != nil {
		t.Fatal(err)
	}
	want := "c1>client:SayHello c2>client:SayHello s1>server:SayHello s2>server:SayHello s2<ok s1<ok c2<ok c1<ok"
	if got := strings.Join(trace, " "); got != want {
		t.Fatalf("order\n got %s\nwant %s", got, want)
	}
	trace = nil
	_, err := h.SayHello(context.Background(), "a", "b")
	if CodeOf(err) != CodeUnauthenticated || !strings.Contains(err.Error(), "missing token") {
		t.Fatalf("auth interceptor: %v", err)
	}
	if got := strings.Join(trace, " "); !strings.Contains(got, "s2<unauthenticated") || !strings.Contains(got, "c1<unauthenticated") {
		t.Fatalf("interceptors did not see the error: %s", got)
	}
}

// TestRawArgsInInterceptors: RawArgs is the arguments' JSON array wherever an
// interceptor looks, before next as after it, on both sides.
func TestRawArgsInInterceptors(t *testing.T) {
	const want = `["a","b"]`
	var mu sync.Mutex
	var seen []string
	look := func(where string) Interceptor {
		return func(next Invoker) Invoker {
			return func(ctx context.Context, call *Call) error {
				mu.Lock()
				seen = append(seen, where+" before: "+string(call.RawArgs()))
				mu.Unlock()
				err := next(ctx, call)
				mu.Lock()
				seen = append(seen, where+" after: "+string(call.RawArgs()))
				mu.Unlock()
				return err
			}
		}
	}
	_, _, addr := startGreeter(t, ServerOptions{Interceptors: []Interceptor{look("server")}})
	h, _ := newGreeterClient(t, ClientOptions{Resolver: StaticAddress(addr), Interceptors: []Interceptor{look("client")}})
	if _, err := h.SayHello(context.Background(), "a", "b"); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 4 {
		t.Fatalf("interceptors ran %d times: %q", len(seen), seen)
	}
	for _, s := range seen {
		if _, args, _ := strings.Cut(s, ": "); args != want {
			t.Errorf("%s, want %s", s, want)
		}
	}
}

func TestRegisterErrors(t *testing.T) {
	s := NewServer(ServerOptions{})
	defer s.Close()
	if err := registerGreeter(s, newGreeter()); err != nil {
		t.Fatal(err)
	}
	bad := ServiceDesc{Name: "x", Methods: []MethodDesc{{Name: "A"}, {Name: "A"}}}
	h := func(context.Context, *Decoder, *Encoder) error { return nil }
	tests := []struct {
		name     string
		desc     *ServiceDesc
		handlers []Handler
		text     string
	}{
		{"duplicate service", &greeterDesc, make([]Handler, len(greeterDesc.Methods)), "no handler"},
		{"duplicate name", &ServiceDesc{Name: greeterDesc.Name}, nil, "already registered"},
		{"handler count", &bad, []Handler{h}, "2 methods but 1 handlers"},
		{"duplicate method", &bad, []Handler{h, h}, "described twice"},
		{"no name", &ServiceDesc{}, nil, "needs a name"},
		{"oneway with results", &ServiceDesc{Name: "y", Methods: []MethodDesc{{Name: "A", Oneway: true, Results: []string{"int"}}}}, []Handler{h}, "oneway but has results"},
	}
	for _, tc := range tests {
		if err := s.Register(tc.desc, tc.handlers); err == nil || !strings.Contains(err.Error(), tc.text) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.text)
		}
	}
}

func TestRegisterWhileServingAndWatch(t *testing.T) {
	s, _, addr := startGreeter(t, ServerOptions{})
	seen := make(chan string, 1)
	s.OnRegister(func(d *ServiceDesc) { seen <- d.Name })
	late := ServiceDesc{Name: "late.Svc", Methods: []MethodDesc{{Name: "Hi", Results: []string{"string"}}}}
	err := s.Register(&late, []Handler{func(_ context.Context, args *Decoder, res *Encoder) error {
		res.String("hi")
		return args.Finish()
	}})
	if err != nil {
		t.Fatal(err)
	}
	if got := waitFor(t, seen, "watcher"); got != "late.Svc" {
		t.Fatal(got)
	}
	_, c := newGreeterClient(t, ClientOptions{Resolver: StaticAddress(addr)})
	d, err := c.Invoke(context.Background(), c.NewCall(&late, 0))
	if err != nil {
		t.Fatal(err)
	}
	var s0 string
	d.String(&s0)
	if err := d.Finish(); err != nil || s0 != "hi" {
		t.Fatalf("%q %v", s0, err)
	}
	if n := len(s.Services()); n != 2 {
		t.Fatalf("%d services", n)
	}
}

func TestFailoverAcrossStaticList(t *testing.T) {
	_, _, addr := startGreeter(t, ServerOptions{})
	res, err := StaticList("127.0.0.1:1", addr)
	if err != nil {
		t.Fatal(err)
	}
	h, _ := newGreeterClient(t, ClientOptions{Resolver: res})
	for i := range 4 { // starts at each address in turn; connect failures fail over
		if got, err := h.SayHello(context.Background(), "a", "b"); err != nil || got != "hello a b" {
			t.Fatalf("call %d: %q %v", i, got, err)
		}
		f := sayHelloAsync(h.c, context.Background(), "c", "d")
		if got, err := f.Wait(context.Background()); err != nil || got != "hello c d" {
			t.Fatalf("async call %d: %q %v", i, got, err)
		}
	}
	if _, err := StaticList(); err == nil {
		t.Fatal("empty StaticList accepted")
	}
}

func TestShutdownDrainsAndTurnsAway(t *testing.T) {
	s, g, addr := startGreeter(t, ServerOptions{})
	h, _ := newGreeterClient(t, ClientOptions{Resolver: StaticAddress(addr), Timeout: 900 * time.Millisecond})
	inflight := make(chan error, 1)
	go func() {
		_, err := h.Wait(context.Background()) // waits in the handler until its deadline
		inflight <- err
	}()
	<-g.waiting
	shut := make(chan error, 1)
	go func() { shut <- s.Shutdown(context.Background()) }()
	// New calls are turned away as unavailable, so callers fail over.
	for {
		_, err := h.SayHello(context.Background(), "a", "b")
		if errors.Is(err, ErrUnavailable) {
			break
		}
		if err != nil {
			t.Fatalf("call during shutdown: %v", err)
		}
	}
	// The in-flight call still gets its answer (here: its deadline, from the handler).
	if err := waitFor(t, inflight, "in-flight call"); !errors.Is(err, ErrDeadlineExceeded) {
		t.Fatalf("in-flight call: %v", err)
	}
	if err := waitFor(t, shut, "shutdown"); err != nil {
		t.Fatal(err)
	}
}

func TestGarbageBodyAndLogging(t *testing.T) {
	var logs strings.Builder
	logger := slog.New(slog.NewTextHandler(&syncWriter{w: &logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	_, _, addr := startGreeter(t, ServerOptions{Interceptors: []Interceptor{LoggingInterceptor(logger)}})
	tc := transport.NewClient(transport.ClientOptions{ConnOptions: transport.ConnOptions{Logger: quiet}})
	defer tc.Close()
	ext := transport.Fields{{Key: HeaderInterface, Value: greeterDesc.Name}, {Key: HeaderMethod, Value: "SayHello"}}
	for _, body := range []string{"", "not json", `["a"`, `{"a":"b"}`, "[1,2]"} {
		resp, err := tc.InvokeSync(context.Background(), addr, transport.NewRequest(RequestCode, ext, []byte(body)))
		if err != nil {
			t.Fatal(err)
		}
		if fromWire(resp.Code) != CodeBadArguments || !strings.Contains(resp.Remark, "bad arguments for SayHello") {
			t.Errorf("body %q: code %d remark %q", body, resp.Code, resp.Remark)
		}
	}
	h, _ := newGreeterClient(t, ClientOptions{Resolver: StaticAddress(addr)})
	if _, err := h.SayHello(context.Background(), "a", "b"); err != nil {
		t.Fatal(err)
	}
	out := logs.String()
	for _, want := range []string{"level=WARN", "code=bad_arguments", "level=DEBUG", "method=SayHello", "side=server", "code=ok"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
}

type syncWriter struct {
	mu sync.Mutex
	w  *strings.Builder
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func TestIntrospectionAndJSONCalls(t *testing.T) {
	_, _, addr := startGreeter(t, ServerOptions{})
	_, c := newGreeterClient(t, ClientOptions{Resolver: StaticAddress(addr)})
	ctx := context.Background()
	descs, err := c.ListServices(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(descs) != 1 || descs[0].Name != greeterDesc.Name || len(descs[0].Methods) != len(greeterDesc.Methods) {
		t.Fatalf("introspection: %+v", descs)
	}
	m := descs[0].Methods[0]
	if m.Name != "SayHello" || m.Params[1].Name != "b" || m.Results[0] != "string" {
		t.Fatalf("method: %+v", m)
	}
	out, err := c.InvokeJSON(ctx, greeterDesc.Name, m, []byte(`["x", "y"]`))
	if err != nil || string(out) != `"hello x y"` {
		t.Fatalf("InvokeJSON: %s %v", out, err)
	}
	if _, err := c.InvokeJSON(ctx, greeterDesc.Name, m, []byte(`{"a":1}`)); !errors.Is(err, ErrBadArguments) {
		t.Fatalf("object args: %v", err)
	}
	if _, err := c.InvokeJSON(ctx, greeterDesc.Name, m, []byte(`[1,2]`)); !errors.Is(err, ErrBadArguments) {
		t.Fatalf("wrong types: %v", err)
	}
	s := NewServer(ServerOptions{})
	defer s.Close()
	if err := s.Register(&ServiceDesc{Name: IntrospectionService, Methods: []MethodDesc{{Name: "X"}}}, []Handler{func(context.Context, *Decoder, *Encoder) error { return nil }}); err == nil {
		t.Fatal("registered the reserved introspection name")
	}
}

// TestRawArgsRouteByTheirFirstValue: a call made from a JSON array (InvokeJSON) routes
// by its first argument's JSON, as the generated client's call with the same arguments
// does, whatever white space the array holds; by the method's name when it is empty.
func TestRawArgsRouteByTheirFirstValue(t *testing.T) {
	c, err := NewClient(ClientOptions{Resolver: StaticAddress("127.0.0.1:1")})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	svc := &ServiceDesc{Name: "Svc", Methods: []MethodDesc{{Name: "M"}}}
	for _, tc := range []struct{ args, key string }{
		{`["x", "y"]`, `"x"`},
		{`[ "x" ]`, `"x"`},
		{`[42,"y"]`, `42`},
		{`[ {"a": 1, "b": [1, 2]} , 3]`, `{"a":1,"b":[1,2]}`},
		{`[null]`, `null`},
		{`[]`, `M`},
		{` [ ] `, `M`},
	} {
		call := c.NewCall(svc, 0)
		call.Args.raw([]byte(tc.args))
		if got := call.RouteKey(context.Background()); got != tc.key {
			t.Errorf("%s routes by %q, want %q", tc.args, got, tc.key)
		}
		putCall(call)
	}
	typed := c.NewCall(svc, 0)
	typed.Args.String("x")
	typed.Args.String("y")
	raw := c.NewCall(svc, 0)
	raw.Args.raw([]byte(`[ "x" , "y" ]`))
	if got, want := raw.RouteKey(context.Background()), typed.RouteKey(context.Background()); got != want {
		t.Errorf("the raw call routes by %q, the typed call by %q", got, want)
	}
}
