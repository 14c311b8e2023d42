package rpc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ringrpc/ringrpc/internal/testnet"
	"github.com/ringrpc/ringrpc/transport"
)

// TestCodeTable checks, for every code, its wire code, the way back, and that no
// handler's error ever reads as "not run" to a caller: only the remoting layer's own
// SYSTEM_BUSY and GO_AWAY do.
func TestCodeTable(t *testing.T) {
	wire := map[Code]int32{CodeOK: 0, CodeInternal: 1, CodeBusy: 708, CodeUnavailable: 714, CodeCanceled: 701, CodeClosed: 719}
	for c := CodeOK; c <= maxCode; c++ {
		w := toWire(c)
		if want, ok := wire[c]; ok && w != want {
			t.Errorf("%v goes on the wire as %d, want %d", c, w, want)
		}
		if w == transport.CodeSystemBusy || w == transport.CodeGoAway || w == transport.CodeRequestCodeNotSupported {
			t.Errorf("%v goes on the wire as the remoting layer's code %d", c, w)
		}
		if got := fromWire(w); got != c {
			t.Errorf("%v -> wire %d -> %v", c, w, got)
		}
		if c != CodeOK && responseFate(w) != fateFinal {
			t.Errorf("a handler's %v error would let the call run again elsewhere", c)
		}
	}
	for _, tc := range []struct {
		wire int32
		code Code
		fate fate
	}{
		{transport.CodeSystemBusy, CodeBusy, fateBusy},
		{transport.CodeGoAway, CodeUnavailable, fateLeaving},
		{transport.CodeRequestCodeNotSupported, CodeUnimplemented, fateFinal},
		{transport.CodeSystemError, CodeInternal, fateFinal},
		{17, CodeUnknown, fateFinal},
		{699, CodeUnknown, fateFinal},
		{720, CodeUnknown, fateFinal},
	} {
		if got := fromWire(tc.wire); got != tc.code {
			t.Errorf("fromWire(%d) = %v, want %v", tc.wire, got, tc.code)
		}
		if got := responseFate(tc.wire); got != tc.fate {
			t.Errorf("responseFate(%d) = %v, want %v", tc.wire, got, tc.fate)
		}
	}
}

// TestFateTable is the table of docs/OPERATIONS.md "Which failures move a call".
func TestFateTable(t *testing.T) {
	for _, tc := range []struct {
		name      string
		f         fate
		move      bool // for any call
		moveAfter bool // for idempotent calls
		paid      bool
	}{
		{"final", fateFinal, false, false, false},
		{"connect failed", fateNotSent, true, true, false},
		{"SYSTEM_BUSY", fateBusy, true, true, true},
		{"GO_AWAY", fateLeaving, true, true, false},
		{"connection lost after send", fateMaybeRun, false, true, true},
	} {
		if got := tc.f.mayMove(false); got != tc.move {
			t.Errorf("%s: mayMove(false) = %v", tc.name, got)
		}
		if got := tc.f.mayMove(true); got != tc.moveAfter {
			t.Errorf("%s: mayMove(true) = %v", tc.name, got)
		}
		if got := tc.f.costsBudget(); got != tc.paid {
			t.Errorf("%s: costsBudget = %v", tc.name, got)
		}
	}
	for _, tc := range []struct {
		err  error
		fate fate
	}{
		{fmt.Errorf("%w: x", transport.ErrConnectFailed), fateNotSent},
		{fmt.Errorf("%w: x", transport.ErrGoingAway), fateLeaving},
		{fmt.Errorf("%w: x", transport.ErrConnectionLost), fateMaybeRun},
		{transport.ErrTimeout, fateFinal},
		{transport.ErrTooManyRequests, fateFinal},
		{transport.ErrClosed, fateFinal},
		{context.Canceled, fateFinal},
	} {
		if got := transportFate(tc.err); got != tc.fate {
			t.Errorf("transportFate(%v) = %v, want %v", tc.err, got, tc.fate)
		}
	}
}

// countingGreeter counts the runs of Fail.
type countingGreeter struct {
	*greeter
	fails atomic.Int32
}

func (g *countingGreeter) Fail(ctx context.Context, code Code, msg string) error {
	g.fails.Add(1)
	return g.greeter.Fail(ctx, code, msg)
}

func startCounting(t *testing.T) (*countingGreeter, string) {
	t.Helper()
	s := NewServer(ServerOptions{Logger: quiet, Transport: transport.ServerOptions{ConnOptions: transport.ConnOptions{Logger: quiet}}})
	g := &countingGreeter{greeter: newGreeter()}
	if err := registerGreeter(s, g); err != nil {
		t.Fatal(err)
	}
	return g, serve(t, s.Serve, s.Close)
}

// A handler that says busy ran: its call must not run again on another provider,
// whatever the method.
func TestApplicationBusyRunsOnce(t *testing.T) {
	g1, a1 := startCounting(t)
	g2, a2 := startCounting(t)
	res, err := StaticList(a1, a2)
	if err != nil {
		t.Fatal(err)
	}
	for _, retry := range []bool{false, true} {
		h, _ := newGreeterClient(t, ClientOptions{Resolver: res, RetryAfterSend: retry})
		for i := range 4 {
			err := h.Fail(context.Background(), CodeBusy, "slow down")
			if !errors.Is(err, ErrBusy) || !strings.Contains(err.Error(), "slow down") {
				t.Fatalf("call %d: %v", i, err)
			}
		}
	}
	if n := g1.fails.Load() + g2.fails.Load(); n != 8 {
		t.Fatalf("8 calls ran %d times", n)
	}
}

// recordingResolver is a StaticList that records the failures reported to it.
type recordingResolver struct {
	Resolver
	mu       sync.Mutex
	failures []string
}

func (r *recordingResolver) ReportFailure(addr string, err error) {
	r.mu.Lock()
	r.failures = append(r.failures, addr+": "+err.Error())
	r.mu.Unlock()
}

func (r *recordingResolver) reported() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.failures...)
}

func TestCancelNeverMarksProviderFailed(t *testing.T) {
	_, g, addr := startGreeter(t, ServerOptions{})
	res := &recordingResolver{Resolver: StaticAddress(addr)}
	// Wait answers at once when more than a second is left: under a second, it waits
	// for the cancellation.
	h, c := newGreeterClient(t, ClientOptions{Resolver: res, Timeout: 900 * time.Millisecond})

	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := h.Wait(ctx)
		errc <- err
	}()
	waitFor(t, g.waiting, "the handler")
	cancel()
	if err := waitFor(t, errc, "the cancelled call"); !errors.Is(err, ErrCanceled) {
		t.Fatalf("cancelled call: %v", err)
	}
	f := InvokeAsync(c, ctx, c.NewCall(&greeterDesc, 7), func(d *Decoder) (time.Duration, error) { return 0, d.Finish() })
	if _, err := f.Wait(context.Background()); !errors.Is(err, ErrCanceled) {
		t.Fatalf("async call with a cancelled context: %v", err)
	}
	if r := res.reported(); len(r) != 0 {
		t.Fatalf("the caller's cancellation marked the provider failed: %q", r)
	}
	// A provider that cannot be reached is reported.
	bad := &recordingResolver{Resolver: StaticAddress("127.0.0.1:1")}
	h, _ = newGreeterClient(t, ClientOptions{Resolver: bad})
	if _, err := h.SayHello(context.Background(), "a", "b"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("unreachable provider: %v", err)
	}
	if r := bad.reported(); len(r) != 1 {
		t.Fatalf("reported %q for an unreachable provider", r)
	}
}

// A provider that never answers the connect uses only its share of the deadline, so
// the call reaches the next provider in time.
func TestConnectBudgetFailsOver(t *testing.T) {
	hole := testnet.BlackHole(t)
	_, _, good := startGreeter(t, ServerOptions{})
	res := &recordingResolver{Resolver: mustList(t, hole, good)}
	h, c := newGreeterClient(t, ClientOptions{Resolver: res})
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	start := time.Now()
	if got, err := h.SayHello(ctx, "a", "b"); err != nil || got != "hello a b" {
		t.Fatalf("call through a black hole: %q %v after %v", got, err, time.Since(start))
	}
	if r := res.reported(); len(r) != 1 || !strings.Contains(r[0], "did not accept the connection within") {
		t.Fatalf("reported %q", r)
	}
	f := sayHelloAsync(c, ctx, "c", "d")
	if got, err := f.Wait(context.Background()); err != nil || got != "hello c d" {
		t.Fatalf("async call through a black hole: %q %v", got, err)
	}
}

func mustList(t *testing.T, addrs ...string) Resolver {
	t.Helper()
	r, err := StaticList(addrs...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// startBusy serves a remoting server whose every RPC is refused SYSTEM_BUSY, as a full
// queue would, and counts the requests.
func startBusy(t *testing.T) (*atomic.Int32, string) {
	t.Helper()
	var n atomic.Int32
	s := transport.NewServer(transport.ServerOptions{ConnOptions: transport.ConnOptions{Logger: quiet}})
	err := s.RegisterProcessor(RequestCode, transport.ProcessorFunc(func(_ context.Context, _ *transport.Conn, req *transport.Command) (*transport.Command, error) {
		n.Add(1)
		return transport.NewResponse(req, transport.CodeSystemBusy, "[OVERLOAD]system busy"), nil
	}), transport.PoolOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return &n, serve(t, s.Serve, s.Close)
}

// A cluster that is all busy is not stormed: moves stop once the retry budget is
// spent, and each paid move waits a jittered backoff.
func TestRetryBudgetBoundsMoves(t *testing.T) {
	n1, a1 := startBusy(t)
	n2, a2 := startBusy(t)
	h, _ := newGreeterClient(t, ClientOptions{
		Resolver: mustList(t, a1, a2),
		Retry:    RetryPolicy{MaxTokens: 10, Backoff: time.Millisecond, MaxBackoff: time.Millisecond},
	})
	const calls = 40
	var last error
	for range calls {
		_, last = h.SayHello(context.Background(), "a", "b")
		if !errors.Is(last, ErrBusy) {
			t.Fatalf("call to busy providers: %v", last)
		}
	}
	// Ten tokens; a failure takes one, and the call moves while more than five
	// remain: four moves in all.
	if got := n1.Load() + n2.Load(); got != calls+4 {
		t.Fatalf("%d calls made %d attempts, want %d", calls, got, calls+4)
	}
	if !strings.Contains(last.Error(), "retry budget is spent") {
		t.Fatalf("the error does not say why the call did not move: %v", last)
	}
}

func TestRetryBudgetRefills(t *testing.T) {
	b := newRetryBudget(RetryPolicy{MaxTokens: 4, TokenRatio: 0.5})
	if !b.failed() || b.failed() || b.failed() {
		t.Fatal("with 4 tokens, a move is allowed while more than 2 remain")
	}
	for range 6 { // three tokens back: four in all
		b.succeeded()
	}
	if !b.failed() {
		t.Fatal("successes did not refill the budget")
	}
	for range 100 {
		b.succeeded()
	}
	if got := b.tokens.Load(); got != b.max {
		t.Fatalf("the budget grew past its size: %d", got)
	}
}

func TestBackoffIsJitteredAndBounded(t *testing.T) {
	c := &Client{baseBackoff: 10 * time.Millisecond, maxBackoff: 35 * time.Millisecond}
	for n, ceiling := range map[int]time.Duration{1: 10 * time.Millisecond, 2: 20 * time.Millisecond, 3: 35 * time.Millisecond, 40: 35 * time.Millisecond} {
		seen := map[time.Duration]bool{}
		for range 200 {
			d := c.backoff(n)
			if d < 0 || d > ceiling {
				t.Fatalf("backoff(%d) = %v, outside [0, %v]", n, d, ceiling)
			}
			seen[d] = true
		}
		if len(seen) < 10 {
			t.Fatalf("backoff(%d) is not jittered: %d distinct values", n, len(seen))
		}
	}
}

// A slow OnComplete callback delays no other call on the connection, and a panicking
// one is logged while the process and the other callbacks go on.
func TestFutureCallbacksLeaveTheReaderAlone(t *testing.T) {
	_, _, addr := startGreeter(t, ServerOptions{})
	h, c := newGreeterClient(t, ClientOptions{Resolver: StaticAddress(addr)})
	release := make(chan struct{})
	blocked := make(chan struct{})
	f := sayHelloAsync(c, context.Background(), "slow", "callback")
	// Registered on a goroutine of the test's: a future that completed already runs
	// it at once, in the goroutine that registers it.
	go f.OnComplete(func(string, error) {
		close(blocked)
		<-release
	})
	waitFor(t, blocked, "the slow callback")
	// The connection still serves calls while the callback blocks.
	for i := range 3 {
		if _, err := h.SayHello(context.Background(), "a", "b"); err != nil {
			t.Fatalf("call %d behind a blocked callback: %v", i, err)
		}
	}
	got := make(chan string, 2)
	g := sayHelloAsync(c, context.Background(), "x", "y")
	g.OnComplete(func(string, error) { panic("the callback fell over") })
	g.OnComplete(func(v string, err error) { got <- v })
	if v := waitFor(t, got, "the callback after a panicking one"); v != "hello x y" {
		t.Fatalf("second callback got %q", v)
	}
	close(release)
	if v, err := f.Wait(context.Background()); v != "hello slow callback" || err != nil {
		t.Fatalf("slow future: %q %v", v, err)
	}
}

// A decode function that panics fails its future; it runs on the waiter, not on the
// connection's reader.
func TestFutureDecodePanicIsAnError(t *testing.T) {
	_, _, addr := startGreeter(t, ServerOptions{})
	_, c := newGreeterClient(t, ClientOptions{Resolver: StaticAddress(addr)})
	call := c.NewCall(&greeterDesc, 0)
	call.Args.String("a")
	call.Args.String("b")
	f := InvokeAsync(c, context.Background(), call, func(*Decoder) (string, error) { panic("bad decoder") })
	if _, err := f.Wait(context.Background()); CodeOf(err) != CodeInternal || !strings.Contains(err.Error(), "panicked: bad decoder") {
		t.Fatalf("panicking decode: %v", err)
	}
	if _, err := sayHelloAsync(c, context.Background(), "still", "up").Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// Async calls with interceptors hold a slot of Transport.AsyncPermits, and say so
// when none is free.
func TestAsyncWithInterceptorsIsBounded(t *testing.T) {
	_, g, addr := startGreeter(t, ServerOptions{})
	seen := make(chan string, 10)
	logCalls := func(next Invoker) Invoker {
		return func(ctx context.Context, call *Call) error {
			err := next(ctx, call)
			seen <- call.Method()
			return err
		}
	}
	_, c := newGreeterClient(t, ClientOptions{
		Resolver:     StaticAddress(addr),
		Interceptors: []Interceptor{logCalls},
		Transport:    transport.ClientOptions{ConnOptions: transport.ConnOptions{AsyncPermits: 1}},
	})
	// Under a second left, Wait waits for its context to end.
	ctx, cancel := context.WithTimeout(context.Background(), 900*time.Millisecond)
	wait := InvokeAsync(c, ctx, c.NewCall(&greeterDesc, 7), func(d *Decoder) (time.Duration, error) {
		var v time.Duration
		DecodeInt(d, &v)
		return v, d.Finish()
	})
	waitFor(t, g.waiting, "the first call in its handler")
	short, stop := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer stop()
	_, err := sayHelloAsync(c, short, "a", "b").Wait(context.Background())
	if !errors.Is(err, ErrBusy) || !errors.Is(err, transport.ErrTooManyRequests) || !strings.Contains(err.Error(), "raise transport.ConnOptions.AsyncPermits") {
		t.Fatalf("second async call with one slot: %v", err)
	}
	cancel()
	if _, err := wait.Wait(context.Background()); !errors.Is(err, ErrCanceled) {
		t.Fatalf("cancelled call: %v", err)
	}
	if m := waitFor(t, seen, "the interceptor"); m != "Wait" {
		t.Fatalf("the interceptor saw %q", m)
	}
	if v, err := sayHelloAsync(c, context.Background(), "a", "b").Wait(context.Background()); err != nil || v != "hello a b" {
		t.Fatalf("after the slot freed: %q %v", v, err)
	}
}

// Oneway calls made just before Close reach the provider, and an async oneway future
// completes once its request was written.
func TestOnewayIsNotLostOnClose(t *testing.T) {
	_, g, addr := startGreeter(t, ServerOptions{})
	for _, async := range []bool{false, true} {
		h, c := newGreeterClient(t, ClientOptions{Resolver: StaticAddress(addr)})
		const n = 20
		for i := range n {
			msg := fmt.Sprint(i)
			if !async {
				h.Notify(context.Background(), msg)
				continue
			}
			call := c.NewCall(&greeterDesc, 4)
			call.Args.String(msg)
			f := InvokeOnewayAsync(c, context.Background(), call)
			if _, err := f.Wait(context.Background()); err != nil {
				t.Fatalf("oneway future %d: %v", i, err)
			}
		}
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		// Workers run oneway calls side by side: they arrive in any order.
		got := map[string]bool{}
		for range n {
			got[waitFor(t, g.notified, "a oneway call")] = true
		}
		for i := range n {
			if !got[fmt.Sprint(i)] {
				t.Fatalf("async=%v: oneway call %d never arrived (got %v)", async, i, got)
			}
		}
	}
	_, c := newGreeterClient(t, ClientOptions{Resolver: StaticAddress("127.0.0.1:1")})
	call := c.NewCall(&greeterDesc, 4)
	call.Args.String("lost")
	if _, err := InvokeOnewayAsync(c, context.Background(), call).Wait(context.Background()); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("oneway future to nowhere: %v", err)
	}
}

// Attempt interceptors see every provider a call tries, with the attempt's number and
// why the call moved; call interceptors see the call once.
func TestAttemptInterceptors(t *testing.T) {
	_, _, good := startGreeter(t, ServerOptions{})
	type seen struct {
		attempt int
		peer    string
		last    error
		err     error
	}
	var mu sync.Mutex
	var attempts []seen
	var calls int
	record := func(next Invoker) Invoker {
		return func(ctx context.Context, call *Call) error {
			err := next(ctx, call)
			mu.Lock()
			attempts = append(attempts, seen{call.Attempt(), call.Peer(), call.LastError(), err})
			mu.Unlock()
			return err
		}
	}
	count := func(next Invoker) Invoker {
		return func(ctx context.Context, call *Call) error {
			mu.Lock()
			calls++
			mu.Unlock()
			return next(ctx, call)
		}
	}
	h, c := newGreeterClient(t, ClientOptions{
		Resolver:            mustList(t, "127.0.0.1:1", good),
		Interceptors:        []Interceptor{count},
		AttemptInterceptors: []Interceptor{record},
	})
	check := func(what string) {
		t.Helper()
		mu.Lock()
		defer mu.Unlock()
		if calls != 1 || len(attempts) != 2 {
			t.Fatalf("%s: %d calls, attempts %+v", what, calls, attempts)
		}
		first, second := attempts[0], attempts[1]
		if first.attempt != 0 || first.peer != "127.0.0.1:1" || first.last != nil || !errors.Is(first.err, ErrUnavailable) {
			t.Fatalf("%s: first attempt %+v", what, first)
		}
		if second.attempt != 1 || second.peer != good || !errors.Is(second.last, ErrUnavailable) || second.err != nil {
			t.Fatalf("%s: second attempt %+v", what, second)
		}
		calls, attempts = 0, nil
	}
	if _, err := h.SayHello(context.Background(), "a", "b"); err != nil {
		t.Fatal(err)
	}
	check("sync")
	c.resolver = mustList(t, "127.0.0.1:1", good) // start at the bad one again
	c.now = c.resolver.(ImmediateResolver)
	if _, err := sayHelloAsync(c, context.Background(), "a", "b").Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	check("async")
}

// An async call cancelled while its request is being encoded must not be completed,
// and its pooled Call recycled, before the encoding is done (the race detector sees
// it otherwise).
func TestAsyncCancelDuringSend(t *testing.T) {
	_, _, addr := startGreeter(t, ServerOptions{})
	_, c := newGreeterClient(t, ClientOptions{Resolver: StaticAddress(addr)})
	big := strings.Repeat("x", 256<<10) // a long encode: a wide window
	if _, err := sayHelloAsync(c, context.Background(), "a", "b").Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 300 {
		ctx, cancel := context.WithCancel(context.Background())
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range i % 64 { // cancel at a different point each time
				runtime.Gosched()
			}
			cancel()
		}()
		if _, err := sayHelloAsync(c, ctx, big, "b").Wait(context.Background()); err != nil && !errors.Is(err, ErrCanceled) {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	wg.Wait()
}

// An interceptor that panics on an async call fails that call's future; the process
// and the client go on.
func TestAsyncInterceptorPanicFailsTheFuture(t *testing.T) {
	_, _, addr := startGreeter(t, ServerOptions{})
	boom := func(next Invoker) Invoker {
		return func(ctx context.Context, call *Call) error {
			if v, _ := ctx.Value(panicKey{}).(bool); v {
				panic("interceptor bug")
			}
			return next(ctx, call)
		}
	}
	_, c := newGreeterClient(t, ClientOptions{Resolver: StaticAddress(addr), Interceptors: []Interceptor{boom}})
	ctx := context.WithValue(context.Background(), panicKey{}, true)
	_, err := sayHelloAsync(c, ctx, "a", "b").Wait(context.Background())
	if CodeOf(err) != CodeInternal || !strings.Contains(err.Error(), "interceptor bug") {
		t.Fatalf("panicking interceptor: %v", err)
	}
	if v, err := sayHelloAsync(c, context.Background(), "a", "b").Wait(context.Background()); err != nil || v != "hello a b" {
		t.Fatalf("after the panic: %q %v", v, err)
	}
}

type panicKey struct{}

// After a failover the next provider is told what remains of the deadline, not what
// remained before the first attempt.
func TestFailoverSendsTheRemainingDeadline(t *testing.T) {
	hole := testnet.BlackHole(t)
	_, g, good := startGreeter(t, ServerOptions{})
	h, _ := newGreeterClient(t, ClientOptions{Resolver: mustList(t, hole, good)})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	seen, err := h.Wait(ctx) // the handler's remaining deadline, when over a second
	if err != nil {
		t.Fatal(err)
	}
	<-g.waiting
	dl, _ := ctx.Deadline()
	if left := time.Until(dl); seen > left+100*time.Millisecond {
		t.Fatalf("the handler's deadline is %v away, the caller's %v", seen.Round(time.Millisecond), left.Round(time.Millisecond))
	}
}

// Callbacks that block hold their call's async slot: they cannot pile up goroutines
// beyond Transport.AsyncPermits, and the call that finds no slot says why.
func TestSlowCallbacksAreBounded(t *testing.T) {
	// The replies wait for the callbacks: one registered once its call is over runs
	// at once, in this goroutine, and holds no slot.
	registered := make(chan struct{})
	hold := func(next Invoker) Invoker {
		return func(ctx context.Context, call *Call) error {
			<-registered
			return next(ctx, call)
		}
	}
	_, _, addr := startGreeter(t, ServerOptions{Interceptors: []Interceptor{hold}})
	_, c := newGreeterClient(t, ClientOptions{
		Resolver:  StaticAddress(addr),
		Transport: transport.ClientOptions{ConnOptions: transport.ConnOptions{AsyncPermits: 4}},
	})
	release := make(chan struct{})
	blocked := make(chan struct{}, 4)
	for range 4 {
		f := sayHelloAsync(c, context.Background(), "a", "b")
		f.OnComplete(func(string, error) {
			blocked <- struct{}{}
			<-release
		})
	}
	close(registered)
	for range 4 {
		waitFor(t, blocked, "a blocked callback")
	}
	short, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := sayHelloAsync(c, short, "c", "d").Wait(context.Background())
	if !errors.Is(err, ErrBusy) || !strings.Contains(err.Error(), "callbacks included") {
		t.Fatalf("a fifth call while four callbacks block: %v", err)
	}
	close(release)
	if v, err := sayHelloAsync(c, context.Background(), "e", "f").Wait(context.Background()); err != nil || v != "hello e f" {
		t.Fatalf("after the callbacks returned: %q %v", v, err)
	}
}

// A connect budget cut very short by the caller's own deadline moves the call, but
// does not mark the provider as failing: it says more of the caller than of it.
func TestTightConnectBudgetIsNotReported(t *testing.T) {
	hole := testnet.BlackHole(t)
	_, _, good := startGreeter(t, ServerOptions{})
	res := &recordingResolver{Resolver: mustList(t, hole, good)}
	h, c := newGreeterClient(t, ClientOptions{Resolver: res})
	// The good provider's connection is open: what is left after the black hole's
	// budget is for the call, not a dial too, on a loaded machine.
	if _, err := c.Transport().Conn(context.Background(), good); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	if _, err := h.SayHello(ctx, "a", "b"); err != nil {
		t.Fatalf("call through a black hole with a tight deadline: %v", err)
	}
	if r := res.reported(); len(r) != 0 {
		t.Fatalf("a 75 ms connect budget reported the provider: %q", r)
	}
}

// TestTightConnectBudgetOfLastProviderIsNotReported: the only provider's connect
// budget is all that remains of the call's deadline, so its dial ends with the call's
// context: under 100 ms, that provider is not reported either, whether the deadline
// is the context's or Timeout's.
func TestTightConnectBudgetOfLastProviderIsNotReported(t *testing.T) {
	hole := testnet.BlackHole(t)
	for _, ownCtx := range []bool{true, false} {
		t.Run(fmt.Sprintf("context deadline=%v", ownCtx), func(t *testing.T) {
			res := &recordingResolver{Resolver: StaticAddress(hole)}
			opts := ClientOptions{Resolver: res}
			ctx, cancel := context.Background(), context.CancelFunc(func() {})
			if ownCtx {
				ctx, cancel = context.WithTimeout(ctx, 80*time.Millisecond)
			} else {
				opts.Timeout = 80 * time.Millisecond
			}
			defer cancel()
			h, _ := newGreeterClient(t, opts)
			if _, err := h.SayHello(ctx, "a", "b"); CodeOf(err) != CodeDeadlineExceeded {
				t.Errorf("a call through a black hole with an 80 ms deadline: %v, want deadline_exceeded", err)
			}
			if r := res.reported(); len(r) != 0 {
				t.Errorf("an 80 ms connect budget that ran out reported the provider: %q", r)
			}
		})
	}
}

// A call that every provider the ring gives it failed says how many were tried, which,
// and what to look at, by what the last one did: the address once per provider, not
// three times for the last.
func TestExhaustedFailoverSaysWhatWasTried(t *testing.T) {
	refused := func() string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		return addr
	}
	a, b := refused(), refused()
	_, busy := startBusy(t)
	for _, tc := range []struct {
		name  string
		addrs []string
		want  []string
	}{
		{"one refused", []string{a}, []string{"connection refused (the only provider this call may go to; check that it runs and that this host reaches it)"}},
		{"two refused", []string{a, b}, []string{"connection refused (the last of the 2 providers this call may go to (" + a + ", " + b + "); check that they run and that this host reaches them)"}},
		{"refused then busy", []string{a, busy}, []string{"busy", "(the last of the 2 providers this call may go to (" + a + ", " + busy + "); overloaded: retry later, or add providers)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, _ := newGreeterClient(t, ClientOptions{Resolver: mustList(t, tc.addrs...)})
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			_, err := h.SayHello(ctx, "a", "b")
			if err == nil {
				t.Fatal("the call succeeded")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%v\nwant %q", err, w)
				}
			}
			if last := tc.addrs[len(tc.addrs)-1]; strings.Contains(err.Error(), "dial "+last+": dial tcp "+last) {
				t.Errorf("%v\nnames %s twice in a row", err, last)
			}
		})
	}
}

// TestCloseEndsBackoff: Close ends a call that waits out its backoff before its next
// provider, sync or async, with ErrClosed, and does not wait for the backoff itself.
func TestCloseEndsBackoff(t *testing.T) {
	for _, async := range []bool{false, true} {
		t.Run(fmt.Sprintf("async=%v", async), func(t *testing.T) {
			_, busy := startBusy(t)
			_, busy2 := startBusy(t)
			c, err := NewClient(ClientOptions{Resolver: fixedOrder{busy, busy2}, Timeout: 20 * time.Second,
				Retry: RetryPolicy{Backoff: 10 * time.Second, MaxBackoff: 10 * time.Second}, Transport: transport.ClientOptions{ConnOptions: transport.ConnOptions{Logger: quiet}}})
			if err != nil {
				t.Fatal(err)
			}
			ended := make(chan error, 1)
			if async {
				go func() {
					_, err := sayHelloAsync(c, context.Background(), "a", "b").Wait(context.Background())
					ended <- err
				}()
			} else {
				go func() { _, err := (&greeterClient{c: c}).SayHello(context.Background(), "a", "b"); ended <- err }()
			}
			// The move to the second provider is counted just before its backoff, a
			// jittered wait of up to 10 s.
			for deadline := time.Now().Add(5 * time.Second); c.Stats().Failovers == 0; {
				if time.Now().After(deadline) {
					t.Fatal("the call did not move on from the busy provider within 5 s")
				}
				runtime.Gosched()
			}
			start := time.Now()
			c.Close()
			closeTook := time.Since(start)
			err = waitFor(t, ended, "the call")
			if CodeOf(err) != CodeClosed {
				t.Errorf("a call in its backoff when the client closed ended with %v, want closed", err)
			}
			if took := time.Since(start); closeTook > time.Second || took > time.Second {
				t.Errorf("Close took %v and the call in its backoff ended %v after it began: Close waited for the backoff", closeTook, took)
			}
		})
	}
}
