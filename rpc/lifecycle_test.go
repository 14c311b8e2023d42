package rpc

// The call lifecycle: every call ends exactly once, with the outcome its caller asked
// for, and its error says what happened and what to do.

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/ringrpc/ringrpc/transport"
)

// ledger is a provider that counts every run of its handlers. A handler called with 1
// waits until the gate opens or its context ends; with 2, until the gate opens; with 4
// and 5 it fails with context.DeadlineExceeded and context.Canceled.
type ledger struct {
	do, idem, fire atomic.Int64
	started        chan string
	gate           chan struct{}
}

var ledgerDesc = ServiceDesc{
	Name: "example.com/ledger.Ledger",
	Methods: []MethodDesc{
		{Name: "Do", Params: []Param{{Name: "n", Type: "int"}}, Results: []string{"int"}},
		{Name: "DoIdem", Params: []Param{{Name: "n", Type: "int"}}, Results: []string{"int"}, Idempotent: true},
		{Name: "Fire", Params: []Param{{Name: "n", Type: "int"}}, Oneway: true},
	},
}

func (l *ledger) handler(count *atomic.Int64, name string) Handler {
	return func(ctx context.Context, args *Decoder, res *Encoder) error {
		var n int
		DecodeInt(args, &n)
		if err := args.Finish(); err != nil {
			return err
		}
		got := count.Add(1)
		select {
		case l.started <- name:
		default:
		}
		switch n {
		case 1:
			select {
			case <-l.gate:
			case <-ctx.Done():
				return ctx.Err()
			}
		case 2:
			<-l.gate
		case 4:
			return context.DeadlineExceeded // as a handler that met its own deadline
		case 5:
			return context.Canceled
		}
		EncodeInt(res, got)
		return nil
	}
}

func startLedger(t testing.TB, opts ServerOptions) (*Server, *ledger, string) {
	t.Helper()
	opts.Logger = quiet
	opts.Transport.Logger = quiet
	s := NewServer(opts)
	l := &ledger{started: make(chan string, 100), gate: make(chan struct{})}
	if err := s.Register(&ledgerDesc, []Handler{l.handler(&l.do, "Do"), l.handler(&l.idem, "DoIdem"), l.handler(&l.fire, "Fire")}); err != nil {
		t.Fatal(err)
	}
	return s, l, serve(t, s.Serve, s.Close)
}

// ledgerCall is what ringrpc-gen writes for Do and DoIdem.
func ledgerCall(c *Client, ctx context.Context, method, n int) (int, error) {
	call := c.NewCall(&ledgerDesc, method)
	EncodeInt(&call.Args, n)
	var r0 int
	d, err := c.Invoke(ctx, call)
	if err != nil {
		return r0, err
	}
	DecodeInt(&d, &r0)
	return r0, d.Finish()
}

func ledgerAsync(c *Client, ctx context.Context, method, n int) *Future[int] {
	call := c.NewCall(&ledgerDesc, method)
	EncodeInt(&call.Args, n)
	return InvokeAsync(c, ctx, call, func(d *Decoder) (int, error) {
		var r0 int
		DecodeInt(d, &r0)
		return r0, d.Finish()
	})
}

func ledgerFire(c *Client, ctx context.Context, n int) error {
	call := c.NewCall(&ledgerDesc, 2)
	EncodeInt(&call.Args, n)
	return c.InvokeOneway(ctx, call)
}

func ledgerFireAsync(c *Client, ctx context.Context, n int) *Future[struct{}] {
	call := c.NewCall(&ledgerDesc, 2)
	EncodeInt(&call.Args, n)
	return InvokeOnewayAsync(c, ctx, call)
}

func newLedgerClient(t testing.TB, opts ClientOptions) *Client {
	t.Helper()
	opts.Transport.Logger = quiet
	c, err := NewClient(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// settle makes sure that whatever c sent before has been read and, with one worker,
// run by the provider: a call after it on the same connection returned.
func settle(t *testing.T, c *Client) {
	t.Helper()
	if _, err := ledgerCall(c, context.Background(), 0, 0); err != nil {
		t.Fatal(err)
	}
}

// fixedOrder resolves every call to its addresses in order.
type fixedOrder []string

func (f fixedOrder) Resolve(_ context.Context, _ *Call, dst []string) ([]string, error) {
	return append(dst, f...), nil
}

// deadAddr returns a loopback address nothing listens on.
func deadAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// TestCancelledBeforeSendIsNotSent: a call made with a context already cancelled ends
// canceled and is not sent, whatever the kind of call: the provider never runs it.
func TestCancelledBeforeSendIsNotSent(t *testing.T) {
	for _, chain := range []bool{false, true} {
		_, l, addr := startLedger(t, ServerOptions{Workers: 1})
		opts := ClientOptions{Resolver: StaticAddress(addr)}
		if chain {
			opts.Interceptors = []Interceptor{func(next Invoker) Invoker { return next }}
		}
		c := newLedgerClient(t, opts)
		settle(t, c) // the connection is open
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		kinds := []struct {
			name   string
			invoke func() error
		}{
			{"sync", func() error { _, err := ledgerCall(c, ctx, 0, 0); return err }},
			{"async", func() error { _, err := ledgerAsync(c, ctx, 0, 0).Wait(context.Background()); return err }},
			{"oneway", func() error { return ledgerFire(c, ctx, 0) }},
			{"oneway async", func() error { _, err := ledgerFireAsync(c, ctx, 0).Wait(context.Background()); return err }},
		}
		for _, k := range kinds {
			do, fire := l.do.Load(), l.fire.Load()
			for range 500 {
				if err := k.invoke(); CodeOf(err) != CodeCanceled || !errors.Is(err, context.Canceled) {
					t.Errorf("chain=%v, %s: %v (code %v), want canceled", chain, k.name, err, CodeOf(err))
					break
				}
			}
			settle(t, c)
			if ran := l.do.Load() - do - 1 + l.fire.Load() - fire; ran != 0 {
				t.Errorf("chain=%v, %s: 500 calls made with a cancelled context ran %d time(s)", chain, k.name, ran)
			}
		}
	}
}

// TestAttemptInterceptorErrorEndsCall: an attempt interceptor that returns an error of
// its own, rather than the one its attempt ended with, ends the call there: the call
// does not move to the next provider, unary or stream.
func TestAttemptInterceptorErrorEndsCall(t *testing.T) {
	stop := errors.New("the interceptor says stop")
	replace := func(seen *atomic.Int64) Interceptor {
		return func(next Invoker) Invoker {
			return func(ctx context.Context, call *Call) error {
				seen.Add(1)
				if err := next(ctx, call); err != nil {
					return stop
				}
				return nil
			}
		}
	}
	t.Run("unary", func(t *testing.T) {
		_, l2, a2 := startLedger(t, ServerOptions{})
		close(l2.gate)
		var seen atomic.Int64
		c := newLedgerClient(t, ClientOptions{Resolver: fixedOrder{deadAddr(t), a2}, AttemptInterceptors: []Interceptor{replace(&seen)}})
		_, err := ledgerCall(c, context.Background(), 0, 0)
		if !errors.Is(err, stop) || seen.Load() != 1 || l2.do.Load() != 0 {
			t.Errorf("err %v after %d attempts, runs on the second provider %d; want the interceptor's error after one attempt", err, seen.Load(), l2.do.Load())
		}
		f := ledgerAsync(c, context.Background(), 0, 0)
		if _, err := f.Wait(context.Background()); !errors.Is(err, stop) || seen.Load() != 2 || l2.do.Load() != 0 {
			t.Errorf("async: err %v after %d attempts, runs on the second provider %d", err, seen.Load()-1, l2.do.Load())
		}
	})
	t.Run("stream", func(t *testing.T) {
		_, _, a2 := startFeed(t, ServerOptions{})
		var seen atomic.Int64
		c := newLedgerClient(t, ClientOptions{Resolver: fixedOrder{deadAddr(t), a2}, AttemptInterceptors: []Interceptor{replace(&seen)}})
		var err error
		got := 0
		for _, e := range (&feedClient{c}).Watch(context.Background(), "count", 3) {
			if err = e; err != nil {
				break
			}
			got++
		}
		if !errors.Is(err, stop) || seen.Load() != 1 || got != 0 {
			t.Errorf("err %v after %d attempts and %d messages; want the interceptor's error after one attempt", err, seen.Load(), got)
		}
	})
	t.Run("the attempt's own error still moves", func(t *testing.T) {
		_, l2, a2 := startLedger(t, ServerOptions{})
		close(l2.gate)
		var seen atomic.Int64
		pass := func(next Invoker) Invoker {
			return func(ctx context.Context, call *Call) error { seen.Add(1); return next(ctx, call) }
		}
		c := newLedgerClient(t, ClientOptions{Resolver: fixedOrder{deadAddr(t), a2}, AttemptInterceptors: []Interceptor{pass}})
		if _, err := ledgerCall(c, context.Background(), 0, 0); err != nil || seen.Load() != 2 || l2.do.Load() != 1 {
			t.Errorf("err %v after %d attempts, runs on the second provider %d; want a move", err, seen.Load(), l2.do.Load())
		}
	})
}

// TestInvokeAsyncDoesNotBlockOnDial: InvokeAsync returns its future at once while the
// call dials, here a provider that accepts TCP but never completes the TLS handshake.
func TestInvokeAsyncDoesNotBlockOnDial(t *testing.T) {
	opts := ClientOptions{Resolver: StaticAddress(startDeaf(t))}
	opts.Transport.TLS = &tls.Config{InsecureSkipVerify: true}
	c := newLedgerClient(t, opts)
	ctx, cancel := context.WithTimeout(context.Background(), 600*time.Millisecond)
	defer cancel()
	start := time.Now()
	f := ledgerAsync(c, ctx, 0, 0)
	returned := time.Since(start)
	_, err := f.Wait(context.Background())
	t.Logf("InvokeAsync returned after %v; the future: %v", returned, err)
	if returned > schedSlack {
		t.Errorf("InvokeAsync held its caller %v while dialling", returned)
	}
	if CodeOf(err) != CodeDeadlineExceeded && CodeOf(err) != CodeUnavailable {
		t.Errorf("the future: %v, want the dial's failure", err)
	}
}

// TestTimeoutBoundsCallWithoutDeadline: without a context deadline,
// ClientOptions.Timeout is the whole call's deadline: an idempotent call over three
// silent providers ends by then, sync and async, rather than after Timeout on each.
func TestTimeoutBoundsCallWithoutDeadline(t *testing.T) {
	var addrs []string
	var ledgers []*ledger
	for range 3 {
		_, l, a := startLedger(t, ServerOptions{})
		t.Cleanup(func() { close(l.gate) })
		addrs, ledgers = append(addrs, a), append(ledgers, l)
	}
	const timeout = 400 * time.Millisecond
	c := newLedgerClient(t, ClientOptions{Resolver: fixedOrder(addrs), Timeout: timeout})
	for _, async := range []bool{false, true} {
		start := time.Now()
		var err error
		if async {
			_, err = ledgerAsync(c, context.Background(), 1, 1).Wait(context.Background())
		} else {
			_, err = ledgerCall(c, context.Background(), 1, 1)
		}
		took := time.Since(start)
		t.Logf("async=%v: took %v: %v", async, took, err)
		if CodeOf(err) != CodeDeadlineExceeded || !strings.Contains(err.Error(), "Timeout") {
			t.Errorf("async=%v: %v, want deadline_exceeded naming ClientOptions.Timeout", async, err)
		}
		// Timeout, plus the reaper's two ticks of Timeout/32 for an attempt without a
		// deadline of its own, plus scheduling on a shared machine.
		if took > timeout+timeout/16+schedSlack {
			t.Errorf("async=%v: a call without a deadline and Timeout %v took %v", async, timeout, took)
		}
	}
	// Each call moved at half its deadline; the third provider gets a share only when
	// what remains at the move is 200 ms, as an attempt timeout under 100 ms is not
	// applied.
	if first, second := ledgers[0].idem.Load(), ledgers[1].idem.Load(); first != 2 || second != 2 {
		t.Errorf("the providers ran the calls %d and %d times, want each call on the first two", first, second)
	}
}

// TestErrorSaysWhatHappened: the errors of calls that met their deadline on the
// provider, or that were not moved because they may have run, say which call, where,
// and what to do.
func TestErrorSaysWhatHappened(t *testing.T) {
	t.Run("ClientOptions.Timeout met by a handler that honours its context", func(t *testing.T) {
		_, l, addr := startLedger(t, ServerOptions{})
		defer close(l.gate)
		c := newLedgerClient(t, ClientOptions{Resolver: StaticAddress(addr), Timeout: 200 * time.Millisecond})
		for range 5 {
			_, err := ledgerCall(c, context.Background(), 0, 1)
			msg := err.Error()
			if CodeOf(err) != CodeDeadlineExceeded || !errors.Is(err, ErrDeadlineExceeded) || !strings.Contains(msg, "example.com/ledger.Ledger.Do on "+addr) || !strings.Contains(msg, "deadline") {
				t.Fatalf("the error names neither the call, its provider nor what to do: %q", msg)
			}
		}
	})
	t.Run("the provider answered deadline_exceeded or canceled", func(t *testing.T) {
		_, l, addr := startLedger(t, ServerOptions{})
		close(l.gate)
		c := newLedgerClient(t, ClientOptions{Resolver: StaticAddress(addr)})
		ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
		defer cancel()
		for _, tc := range []struct {
			n    int
			code Code
			todo string
		}{{4, CodeDeadlineExceeded, "raise the deadline"}, {5, CodeCanceled, "look at the provider's logs"}} {
			_, err := ledgerCall(c, ctx, 0, tc.n)
			_, aerr := ledgerAsync(c, ctx, 0, tc.n).Wait(context.Background())
			for _, err := range []error{err, aerr} {
				msg := err.Error()
				if CodeOf(err) != tc.code || !strings.Contains(msg, "call example.com/ledger.Ledger.Do on "+addr) || !strings.Contains(msg, tc.todo) {
					t.Errorf("the error names neither the call, its provider nor what to do: %q", msg)
				}
			}
		}
	})
	t.Run("connection lost under a call that may not run twice", func(t *testing.T) {
		s1, l1, a1 := startLedger(t, ServerOptions{})
		_, _, a2 := startLedger(t, ServerOptions{})
		defer close(l1.gate)
		c := newLedgerClient(t, ClientOptions{Resolver: fixedOrder{a1, a2}})
		done := make(chan error, 1)
		go func() { _, err := ledgerCall(c, context.Background(), 0, 2); done <- err }()
		waitFor(t, l1.started, "the handler")
		go s1.Close()
		err := waitFor(t, done, "the call")
		t.Logf("the caller reads: %v", err)
		msg := err.Error()
		if CodeOf(err) != CodeUnavailable || !errors.Is(err, ErrUnavailable) || !strings.Contains(msg, "may have run") || !strings.Contains(msg, "//ringrpc:idempotent") || !strings.Contains(msg, "rpc.WithRetry") {
			t.Errorf("a call not moved because it may have run says neither so nor how to let it move: %q", msg)
		}
	})
}

// TestWaitOnCompletedFuture: Wait on a completed future returns its outcome every
// time, even with a context that has ended.
func TestWaitOnCompletedFuture(t *testing.T) {
	_, l, addr := startLedger(t, ServerOptions{})
	c := newLedgerClient(t, ClientOptions{Resolver: StaticAddress(addr)})
	f := ledgerAsync(c, context.Background(), 0, 0)
	want, err := f.Wait(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	dead, kill := context.WithCancel(context.Background())
	kill()
	for i := range 200 {
		if v, err := f.Wait(dead); err != nil || v != want {
			t.Fatalf("Wait %d on a completed future with an ended context: %v, %v; want %v", i, v, err, want)
		}
	}
	// A future not completed yet: the ended context stops the wait.
	g := ledgerAsync(c, context.Background(), 0, 2) // held until the gate opens
	if _, err := g.Wait(dead); CodeOf(err) != CodeCanceled {
		t.Errorf("Wait with an ended context on a pending future: %v, want canceled", err)
	}
	close(l.gate)
	if _, err := g.Wait(context.Background()); err != nil {
		t.Errorf("the pending future: %v", err)
	}
}

// TestOnewayPastTimeoutInQueueNotRun: a oneway call made without a context deadline
// carries ClientOptions.Timeout as its deadline; one that waits in the provider's queue
// past it is dropped unrun, while one with a longer context deadline runs.
func TestOnewayPastTimeoutInQueueNotRun(t *testing.T) {
	s, l, addr := startLedger(t, ServerOptions{Workers: 1})
	const timeout = 100 * time.Millisecond
	c := newLedgerClient(t, ClientOptions{Resolver: StaticAddress(addr), Timeout: timeout})
	long, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	blocker := ledgerAsync(c, long, 0, 2) // holds the only worker until the gate opens
	waitFor(t, l.started, "the blocker")
	if err := ledgerFire(c, context.Background(), 0); err != nil {
		t.Fatal(err)
	}
	if err := ledgerFire(c, long, 0); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, func() bool { return s.Transport().Stats().Queued == 2 })
	<-time.After(timeout + 50*time.Millisecond) // the first oneway's deadline passes in the queue
	close(l.gate)
	if _, err := blocker.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := ledgerCall(c, long, 0, 0); err != nil { // runs after both oneway calls
		t.Fatal(err)
	}
	if got := l.fire.Load(); got != 1 {
		t.Errorf("%d oneway runs, want 1: the one past its Timeout in the queue is dropped, the other runs", got)
	}
}

// waitingResolver stands for registry.Registry while no provider is known: it waits
// for one until its context ends or, without a deadline, for readyWait, and then says
// there is none. Before that, it waits sleep whatever its context, as a resolver that
// ignores it would.
type waitingResolver struct {
	sleep, readyWait time.Duration
	addrs            []string
}

var errNoneJoined = errors.New("no provider joined")

func (r waitingResolver) Resolve(ctx context.Context, _ *Call, dst []string) ([]string, error) {
	time.Sleep(r.sleep) // a resolver that ignores its context
	if r.readyWait == 0 {
		return append(dst, r.addrs...), nil
	}
	wait := r.readyWait
	if _, ok := ctx.Deadline(); ok {
		wait = time.Hour // until the deadline, as the registry does
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
		return nil, fmt.Errorf("%w: waited %v", errNoneJoined, r.readyWait)
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: waited until the call's deadline: %w", errNoneJoined, ctx.Err())
	}
}

// schedSlack is what a bound on a call's time allows for scheduling on a loaded
// machine under the race detector; each test's figures leave the failure it looks
// for well beyond it.
const schedSlack = 300 * time.Millisecond

// TestResolveIsInsideTimeout: ClientOptions.Timeout, the deadline of a call without
// a context deadline, starts when the call does: a resolver's wait for a provider is
// inside it and ends with it, and a call whose Timeout passed before it was sent
// ends saying so, with no provider reported failing.
func TestResolveIsInsideTimeout(t *testing.T) {
	_, l, addr := startLedger(t, ServerOptions{})
	close(l.gate)
	const timeout = 600 * time.Millisecond
	for _, tc := range []struct {
		name string
		res  waitingResolver
		want string
	}{
		{"a resolver that waits for a provider past Timeout", waitingResolver{readyWait: 3 * time.Second}, "waited until the call's deadline"},
		{"a resolver that ignores its context", waitingResolver{sleep: 750 * time.Millisecond, addrs: []string{addr}}, "the call's deadline passed before it was sent to " + addr},
	} {
		for _, async := range []bool{false, true} {
			res := &recordingResolver{Resolver: tc.res}
			c := newLedgerClient(t, ClientOptions{Resolver: res, Timeout: timeout})
			start := time.Now()
			var err error
			if async {
				_, err = ledgerAsync(c, context.Background(), 0, 0).Wait(context.Background())
			} else {
				_, err = ledgerCall(c, context.Background(), 0, 0)
			}
			took := time.Since(start)
			t.Logf("%s, async=%v: after %v: %v", tc.name, async, took, err)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%s, async=%v: %v, want an error saying %q", tc.name, async, err, tc.want)
			}
			if limit := max(timeout, tc.res.sleep) + schedSlack; took > limit {
				t.Errorf("%s, async=%v: the call took %v (> %v) with Timeout %v", tc.name, async, took, limit, timeout)
			}
			if r := res.reported(); len(r) > 0 {
				t.Errorf("%s, async=%v: a provider sent nothing was reported failing: %q", tc.name, async, r)
			}
		}
	}
}

// TestAsyncBackoffBoundedByTimeout: the backoff before an async call's move to the
// next provider ends at the call's deadline, Timeout without a context deadline, and
// the provider it would have moved to, sent nothing, is not reported.
func TestAsyncBackoffBoundedByTimeout(t *testing.T) {
	_, busy := startBusy(t)
	_, l, good := startLedger(t, ServerOptions{})
	close(l.gate)
	const timeout = 300 * time.Millisecond
	res := &recordingResolver{Resolver: fixedOrder{busy, good}}
	c := newLedgerClient(t, ClientOptions{Resolver: res, Timeout: timeout,
		Retry: RetryPolicy{Backoff: 3 * time.Second, MaxBackoff: 3 * time.Second}})
	_, err := ledgerCall(c, context.Background(), 0, 0) // opens the connection to the busy provider
	t.Logf("sync: %v", err)
	for i := range 4 {
		start := time.Now()
		_, err := ledgerAsync(c, context.Background(), 0, 0).Wait(context.Background())
		took := time.Since(start)
		t.Logf("async %d: %v after %v", i, err, took)
		if took > timeout+timeout/16+schedSlack {
			t.Fatalf("async call %d with Timeout %v took %v: its backoff was not bounded by the call's deadline", i, timeout, took)
		}
	}
	for _, r := range res.reported() {
		if strings.HasPrefix(r, good) {
			t.Errorf("the good provider, sent nothing, was reported failing: %s", r)
		}
	}
}

// TestAsyncSlotWaitInsideTimeout: InvokeAsync's wait for an async slot is part of
// the call's deadline, Timeout without a context deadline: the call does not get a
// fresh Timeout once it has a slot.
func TestAsyncSlotWaitInsideTimeout(t *testing.T) {
	_, l, addr := startLedger(t, ServerOptions{})
	defer close(l.gate)
	const timeout = time.Second
	opts := ClientOptions{Resolver: StaticAddress(addr), Timeout: timeout}
	opts.Transport.AsyncPermits = 1
	c := newLedgerClient(t, opts)
	settle(t, c)
	// f1 holds the only slot: it ends after 50 ms, and its callback takes 500 ms.
	short, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	f1 := ledgerAsync(c, short, 0, 1)
	f1.OnComplete(func(int, error) { time.Sleep(500 * time.Millisecond) })
	start := time.Now()
	_, err := ledgerAsync(c, context.Background(), 0, 1).Wait(context.Background()) // waits for its gate or its deadline
	took := time.Since(start)
	t.Logf("took %v: %v", took, err)
	if CodeOf(err) != CodeDeadlineExceeded {
		t.Errorf("%v, want deadline_exceeded", err)
	}
	if limit := timeout + timeout/16 + schedSlack; took > limit {
		t.Errorf("an async call without a context deadline and Timeout %v took %v (> %v): its slot wait is not inside Timeout", timeout, took, limit)
	}
}

// TestAttemptInterceptorTimeInsideTimeout: the time an attempt interceptor takes
// before the first attempt is part of a call's Timeout, without a context deadline:
// the attempt does not get a fresh Timeout once it is sent.
func TestAttemptInterceptorTimeInsideTimeout(t *testing.T) {
	_, l, addr := startLedger(t, ServerOptions{})
	defer close(l.gate)
	const timeout, delay = 600 * time.Millisecond, 400 * time.Millisecond
	var slow atomic.Bool
	wait := func(next Invoker) Invoker {
		return func(ctx context.Context, call *Call) error {
			if slow.Load() {
				time.Sleep(delay) // as an interceptor that waits for a rate limit
			}
			return next(ctx, call)
		}
	}
	c := newLedgerClient(t, ClientOptions{Resolver: StaticAddress(addr), Timeout: timeout, AttemptInterceptors: []Interceptor{wait}})
	settle(t, c)
	slow.Store(true)
	start := time.Now()
	_, err := ledgerCall(c, context.Background(), 0, 2) // waits for its gate, whatever its context says
	took := time.Since(start)
	if CodeOf(err) != CodeDeadlineExceeded {
		t.Errorf("%v, want deadline_exceeded", err)
	}
	if limit := timeout + timeout/16 + schedSlack; took > limit {
		t.Errorf("a call with Timeout %v whose attempt interceptor took %v ended after %v (> %v): the attempt got a fresh Timeout", timeout, delay, took, limit)
	}
}

// TestAttemptInterceptorPastTimeoutSendsNothing: an attempt interceptor that takes
// longer than the call's Timeout, without a context deadline, ends the call as one
// whose deadline passed before it was sent, on an open connection or before a dial,
// and the provider, sent nothing, is not reported.
func TestAttemptInterceptorPastTimeoutSendsNothing(t *testing.T) {
	for _, open := range []bool{true, false} {
		t.Run(fmt.Sprintf("open=%v", open), func(t *testing.T) {
			_, _, addr := startGreeter(t, ServerOptions{})
			res := &recordingResolver{Resolver: StaticAddress(addr)}
			var slow atomic.Bool
			wait := func(next Invoker) Invoker {
				return func(ctx context.Context, call *Call) error {
					if slow.Load() {
						time.Sleep(150 * time.Millisecond) // past the call's Timeout
					}
					return next(ctx, call)
				}
			}
			h, _ := newGreeterClient(t, ClientOptions{Resolver: res, Timeout: 100 * time.Millisecond, AttemptInterceptors: []Interceptor{wait}})
			if open {
				if _, err := h.SayHello(context.Background(), "a", "b"); err != nil {
					t.Fatal(err)
				}
			}
			slow.Store(true)
			_, err := h.SayHello(context.Background(), "a", "b")
			if !errors.Is(err, ErrDeadlineExceeded) || !strings.Contains(err.Error(), "before it was sent") {
				t.Errorf("%v, want deadline_exceeded before it was sent", err)
			}
			if r := res.reported(); len(r) != 0 {
				t.Errorf("a provider that was sent nothing was reported failing: %q", r)
			}
		})
	}
}

// TestInvokeAsyncReturnsWhileResolving: InvokeAsync returns its future at once while
// the resolver waits for a provider, and the call ends at its Timeout.
func TestInvokeAsyncReturnsWhileResolving(t *testing.T) {
	const timeout = time.Second
	c := newLedgerClient(t, ClientOptions{Resolver: waitingResolver{readyWait: 3 * time.Second}, Timeout: timeout})
	start := time.Now()
	f := ledgerAsync(c, context.Background(), 0, 0)
	returned := time.Since(start)
	_, err := f.Wait(context.Background())
	took := time.Since(start)
	t.Logf("InvokeAsync returned after %v; the call ended after %v: %v", returned, took, err)
	if returned > schedSlack {
		t.Errorf("InvokeAsync held its caller %v while resolving", returned)
	}
	if !errors.Is(err, errNoneJoined) || took > timeout+schedSlack {
		t.Errorf("a call with Timeout %v ended after %v with %v, want the resolver's error at Timeout", timeout, took, err)
	}
}

// TestAttemptInterceptorWrapReachesCaller: an error an attempt interceptor wraps
// around the attempt's reaches the caller as the interceptor returned it, its
// wrapper included, with the attempt's code.
func TestAttemptInterceptorWrapReachesCaller(t *testing.T) {
	errQuota := errors.New("quota exceeded")
	wrap := func(next Invoker) Invoker {
		return func(ctx context.Context, call *Call) error {
			if err := next(ctx, call); err != nil {
				return fmt.Errorf("%w: %w", errQuota, err)
			}
			return nil
		}
	}
	c := newLedgerClient(t, ClientOptions{Resolver: fixedOrder{deadAddr(t)}, AttemptInterceptors: []Interceptor{wrap}})
	_, err := ledgerCall(c, context.Background(), 0, 0)
	if !errors.Is(err, errQuota) || CodeOf(err) != CodeUnavailable {
		t.Errorf("the caller reads %v (code %v): want the interceptor's wrapper, errors.Is(err, errQuota), with the attempt's code unavailable", err, CodeOf(err))
	}
}

// TestDownstreamDeadlineNotBlamedOnTimeout: a provider's deadline_exceeded answer that
// came before the call's Timeout (a handler's own downstream call timed out) does not
// say that Timeout was the call's deadline.
func TestDownstreamDeadlineNotBlamedOnTimeout(t *testing.T) {
	_, l, addr := startLedger(t, ServerOptions{})
	close(l.gate)
	c := newLedgerClient(t, ClientOptions{Resolver: StaticAddress(addr)})
	_, err := ledgerCall(c, context.Background(), 0, 4)
	if CodeOf(err) != CodeDeadlineExceeded || strings.Contains(err.Error(), "ClientOptions.Timeout") {
		t.Errorf("%v: a handler's own deadline is blamed on the call's Timeout", err)
	}
}

// TestWaitCtx: the context a waiting resolver gets ends at the call's deadline, with
// the caller's context or when the client closes, whichever first, and reports no
// deadline; after Resolve returned it has ended.
func TestWaitCtx(t *testing.T) {
	for _, tc := range []struct {
		name   string
		cancel bool // the caller cancels after 10 ms
		close  bool // the client closes after 20 ms
		want   error
		at     time.Duration
	}{
		{"the deadline", false, false, context.DeadlineExceeded, 100 * time.Millisecond},
		{"the caller's cancel", true, false, context.Canceled, 10 * time.Millisecond},
		{"the client's close", false, true, context.Canceled, 20 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				parent, cancel := context.WithCancel(context.Background())
				defer cancel()
				life, closeClient := context.WithCancel(context.Background())
				defer closeClient()
				start := time.Now()
				tc2 := &waitCtx{Context: parent, deadline: start.Add(100 * time.Millisecond), life: life}
				defer tc2.release()
				if _, ok := tc2.Deadline(); ok || tc2.Err() != nil {
					t.Fatal("reports a deadline, or has ended before it began")
				}
				if tc.cancel {
					time.AfterFunc(10*time.Millisecond, cancel)
				}
				if tc.close {
					time.AfterFunc(20*time.Millisecond, closeClient)
				}
				<-tc2.Done()
				if !errors.Is(tc2.Err(), tc.want) || time.Since(start) != tc.at {
					t.Errorf("ended after %v with %v, want %v after %v", time.Since(start), tc2.Err(), tc.want, tc.at)
				}
			})
		})
	}
	t.Run("kept after Resolve", func(t *testing.T) {
		tc2 := &waitCtx{Context: context.Background(), life: context.Background()}
		tc2.release()
		select {
		case <-tc2.Done():
		default:
			t.Error("a context kept after Resolve returned has not ended")
		}
		if tc2.Err() == nil {
			t.Error("a context kept after Resolve returned reports no error")
		}
	})
}

// TestInterceptorRunningTwiceGetsOneTimeout: an interceptor may run the call again:
// the second run sends the same arguments, and does not get a second Timeout.
func TestInterceptorRunningTwiceGetsOneTimeout(t *testing.T) {
	_, l, addr := startLedger(t, ServerOptions{})
	defer close(l.gate)
	const timeout = 600 * time.Millisecond
	twice := func(next Invoker) Invoker {
		return func(ctx context.Context, call *Call) error {
			next(ctx, call)
			return next(ctx, call)
		}
	}
	c := newLedgerClient(t, ClientOptions{Resolver: StaticAddress(addr), Timeout: timeout, Interceptors: []Interceptor{twice}})
	if _, err := ledgerCall(c, context.Background(), 0, 0); err != nil {
		t.Errorf("the second run of a call: %v", err)
	}
	start := time.Now()
	_, err := ledgerCall(c, context.Background(), 0, 1) // waits for its gate or its deadline
	took := time.Since(start)
	t.Logf("took %v: %v", took, err)
	if limit := timeout + timeout/16 + schedSlack; CodeOf(err) != CodeDeadlineExceeded || took > limit {
		t.Errorf("a call run twice by an interceptor, Timeout %v: %v after %v, want deadline_exceeded within %v", timeout, err, took, limit)
	}
}

// knownResolver is a resolver that may wait, as a registry may, but knows its
// provider at once.
type knownResolver struct{ addr string }

func (r knownResolver) Resolve(_ context.Context, _ *Call, dst []string) ([]string, error) {
	return append(dst, r.addr), nil
}

func (r knownResolver) ResolveNow(_ context.Context, _ *Call, dst []string) ([]string, bool) {
	return append(dst, r.addr), true
}

// A call whose resolver knows its providers at once costs no more than one through
// StaticAddress: the context, timer and goroutine made for a resolver's wait are made
// only when it must wait.
func TestKnownProvidersCostNoWait(t *testing.T) {
	if raceDetector {
		t.Skip("allocations vary under the race detector")
	}
	_, _, addr := startGreeter(t, ServerOptions{})
	ctx := context.Background()
	measure := func(r Resolver, async bool) float64 {
		g, c := newGreeterClient(t, ClientOptions{Resolver: r})
		call := func() {
			if async {
				if _, err := sayHelloAsync(c, ctx, "a", "b").Wait(ctx); err != nil {
					t.Fatal(err)
				}
			} else if _, err := g.SayHello(ctx, "a", "b"); err != nil {
				t.Fatal(err)
			}
		}
		call()
		return testing.AllocsPerRun(200, call)
	}
	for _, async := range []bool{false, true} {
		static, known := measure(StaticAddress(addr), async), measure(knownResolver{addr}, async)
		if known > static {
			t.Errorf("async %v: %.1f allocations per call through a resolver that knows its provider, %.1f through StaticAddress", async, known, static)
		}
	}
}

var leftDesc = ServiceDesc{
	Name:    "example.com/lifecycle.Left",
	Methods: []MethodDesc{{Name: "Left", Results: []string{"int64"}}},
}

// slowResolver finds its provider after wait, as a registry does while a provider
// joins; it cannot say at once that it knows none.
type slowResolver struct {
	addr string
	wait time.Duration
}

func (r slowResolver) Resolve(ctx context.Context, _ *Call, dst []string) ([]string, error) {
	t := time.NewTimer(r.wait)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return dst, ctx.Err()
	case <-t.C:
		return append(dst, r.addr), nil
	}
}

// After the resolver waited 600 ms of a 1 s Timeout, the provider's handler gets what
// remains, about 400 ms, as ClientOptions.Timeout says, not a fresh Timeout: the
// request's deadline is written again before it is sent.
func TestHandlerGetsWhatRemainsAfterAWait(t *testing.T) {
	addr := serveRemaining(t)
	c := newLedgerClient(t, ClientOptions{Resolver: slowResolver{addr, 600 * time.Millisecond}, Timeout: time.Second})
	if _, err := c.Invoke(context.Background(), c.NewCall(&leftDesc, 0)); err != nil { // opens the connection
		t.Fatal(err)
	}
	for _, async := range []bool{false, true} {
		call := c.NewCall(&leftDesc, 0)
		var left int64
		var err error
		if async {
			left, err = InvokeAsync(c, context.Background(), call, func(d *Decoder) (int64, error) {
				var v int64
				DecodeInt(d, &v)
				return v, d.Finish()
			}).Wait(context.Background())
		} else {
			var d Decoder
			if d, err = c.Invoke(context.Background(), call); err == nil {
				DecodeInt(&d, &left)
				err = d.Finish()
			}
		}
		if err != nil {
			t.Fatal(err)
		}
		if left > 500 {
			t.Errorf("async %v: the handler got %d ms after the resolver took 600 ms of a 1 s Timeout", async, left)
		}
	}
}

// joiningResolver knows no provider: it waits for one until its context ends, as
// registry.Registry does while the service has none, and says when it waits.
type joiningResolver struct{ waiting chan struct{} }

func (r joiningResolver) Resolve(ctx context.Context, _ *Call, dst []string) ([]string, error) {
	r.waiting <- struct{}{}
	<-ctx.Done()
	return dst, ctx.Err()
}

// Close ends the resolver's wait of the calls in flight, which fail closed: it does
// not wait for their deadlines.
func TestCloseEndsResolversWait(t *testing.T) {
	for _, async := range []bool{false, true} {
		r := joiningResolver{make(chan struct{}, 1)}
		c, err := NewClient(ClientOptions{Resolver: r, Transport: transport.ClientOptions{ConnOptions: transport.ConnOptions{Logger: quiet}}})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		outcome := make(chan error, 1)
		if async {
			f := ledgerAsync(c, ctx, 0, 0)
			go func() { _, err := f.Wait(context.Background()); outcome <- err }()
		} else {
			go func() { _, err := c.Invoke(ctx, c.NewCall(&leftDesc, 0)); outcome <- err }()
		}
		waitFor(t, r.waiting, "the resolver to wait")
		start := time.Now()
		c.Close()
		if took := time.Since(start); took > 5*time.Second {
			t.Errorf("async %v: Close took %v, waiting for a resolver", async, took)
		}
		if err := waitFor(t, outcome, "the call"); CodeOf(err) != CodeClosed {
			t.Errorf("async %v: a call whose resolver waited at Close: %v, want closed", async, err)
		}
		cancel()
	}
}

type callerKey struct{}

// keepingResolver hands the caller's values to a goroutine that outlives Resolve, as
// a resolver that refreshes its view in the background may.
type keepingResolver struct {
	addr string
	seen chan any
}

func (r keepingResolver) Resolve(ctx context.Context, _ *Call, dst []string) ([]string, error) {
	bg := context.WithoutCancel(ctx)
	go func() { r.seen <- bg.Value(callerKey{}) }()
	return append(dst, r.addr), nil
}

// A resolver may keep the values of the context it was given past Resolve: they stay
// the caller's.
func TestResolverKeepsContextValues(t *testing.T) {
	_, _, addr := startGreeter(t, ServerOptions{})
	r := keepingResolver{addr, make(chan any, 10)}
	g, _ := newGreeterClient(t, ClientOptions{Resolver: r})
	for i := range 20 {
		want := fmt.Sprintf("caller %d", i)
		if _, err := g.SayHello(context.WithValue(context.Background(), callerKey{}, want), "a", "b"); err != nil {
			t.Fatal(err)
		}
		if v := waitFor(t, r.seen, "the resolver's goroutine"); v != want {
			t.Errorf("a resolver reading the caller's value after Resolve returned got %v, want %s", v, want)
		}
	}
}

// emptyResolver waits until its context ends, then says it found none, without an
// error.
type emptyResolver struct{ waiting chan struct{} }

func (r emptyResolver) Resolve(ctx context.Context, _ *Call, dst []string) ([]string, error) {
	r.waiting <- struct{}{}
	<-ctx.Done()
	return dst, nil
}

// causeResolver waits until its context ends and returns its cause.
type causeResolver struct{ waiting chan struct{} }

func (r causeResolver) Resolve(ctx context.Context, _ *Call, dst []string) ([]string, error) {
	r.waiting <- struct{}{}
	<-ctx.Done()
	return dst, context.Cause(ctx)
}

// notYetResolver says at once that it knows no provider, then waits for one as
// joiningResolver does: a registry whose service has none yet.
type notYetResolver struct{ joiningResolver }

func (notYetResolver) ResolveNow(_ context.Context, _ *Call, dst []string) ([]string, bool) {
	return dst, false
}

// A call whose resolver's wait ends at Close fails closed, whatever the resolver
// returns, and whether or not it told at once that it had to wait.
func TestCloseEndsEveryResolversWait(t *testing.T) {
	for _, tc := range []struct {
		name string
		r    func(chan struct{}) Resolver
	}{
		{"the context's cause", func(ch chan struct{}) Resolver { return causeResolver{ch} }},
		{"none, no error", func(ch chan struct{}) Resolver { return emptyResolver{ch} }},
		{"an ImmediateResolver with none", func(ch chan struct{}) Resolver { return notYetResolver{joiningResolver{ch}} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			waiting := make(chan struct{}, 1)
			c, err := NewClient(ClientOptions{Resolver: tc.r(waiting), Transport: transport.ClientOptions{ConnOptions: transport.ConnOptions{Logger: quiet}}})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			outcome := make(chan error, 1)
			go func() { _, err := c.Invoke(ctx, c.NewCall(&leftDesc, 0)); outcome <- err }()
			waitFor(t, waiting, "the resolver to wait")
			c.Close()
			if err := waitFor(t, outcome, "the call"); CodeOf(err) != CodeClosed {
				t.Errorf("a call whose resolver waited at Close: %v, want closed", err)
			}
		})
	}
}

// gatedResolver says when it waits, sees its context end, then returns only when let
// go.
type gatedResolver struct {
	waiting, ended, letGo chan struct{}
}

func (r gatedResolver) Resolve(ctx context.Context, _ *Call, dst []string) ([]string, error) {
	r.waiting <- struct{}{}
	<-ctx.Done()
	r.ended <- struct{}{}
	<-r.letGo
	return dst, ctx.Err()
}

// A call its caller cancelled while its resolver waited says canceled, though Close
// came before the resolver returned: Close did not end its wait.
func TestCancelledThenClosedSaysCanceled(t *testing.T) {
	r := gatedResolver{make(chan struct{}, 1), make(chan struct{}, 1), make(chan struct{})}
	c, err := NewClient(ClientOptions{Resolver: r, Transport: transport.ClientOptions{ConnOptions: transport.ConnOptions{Logger: quiet}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	outcome := make(chan error, 1)
	go func() { _, err := c.Invoke(ctx, c.NewCall(&leftDesc, 0)); outcome <- err }()
	waitFor(t, r.waiting, "the resolver to wait")
	cancel()
	waitFor(t, r.ended, "the resolver's context to end")
	c.Close()
	close(r.letGo)
	if err := waitFor(t, outcome, "the call"); CodeOf(err) != CodeCanceled {
		t.Errorf("a call its caller cancelled before Close: %v, want canceled", err)
	}
}

// plainResolver knows its provider at once but does not say so (no ResolveNow).
type plainResolver struct{ addr string }

func (r plainResolver) Resolve(_ context.Context, _ *Call, dst []string) ([]string, error) {
	return append(dst, r.addr), nil
}

// A resolver of one's own that knows its providers at once, without ResolveNow, costs
// a sync call the context it may wait with, and nothing more: the deadline the request
// carries is written again only after a wait.
func TestPlainResolverCost(t *testing.T) {
	if raceDetector {
		t.Skip("allocations vary under the race detector")
	}
	_, _, addr := startGreeter(t, ServerOptions{})
	ctx := context.Background()
	measure := func(r Resolver) float64 {
		g, _ := newGreeterClient(t, ClientOptions{Resolver: r})
		call := func() {
			if _, err := g.SayHello(ctx, "a", "b"); err != nil {
				t.Fatal(err)
			}
		}
		call()
		return testing.AllocsPerRun(200, call)
	}
	if static, plain := measure(StaticAddress(addr)), measure(plainResolver{addr}); plain > static+1 {
		t.Errorf("%.1f allocations through a resolver without ResolveNow, %.1f through StaticAddress: more than its context", plain, static)
	}
}

// An attempt interceptor that waits (a rate limiter) before a call with a context
// deadline goes: the handler gets what remains of the deadline when the call is sent,
// not what remained when it was encoded.
func TestHandlerGetsWhatRemainsAfterAnAttemptInterceptor(t *testing.T) {
	addr := serveRemaining(t)
	limiter := func(next Invoker) Invoker {
		return func(ctx context.Context, call *Call) error {
			if _, ok := ctx.Deadline(); ok {
				time.Sleep(600 * time.Millisecond) // the limiter's wait, which the test is about
			}
			return next(ctx, call)
		}
	}
	c := newLedgerClient(t, ClientOptions{Resolver: StaticAddress(addr), AttemptInterceptors: []Interceptor{limiter}})
	if _, err := c.Invoke(context.Background(), c.NewCall(&leftDesc, 0)); err != nil { // opens the connection
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	d, err := c.Invoke(ctx, c.NewCall(&leftDesc, 0))
	if err != nil {
		t.Fatal(err)
	}
	var left int64
	DecodeInt(&d, &left)
	if err := d.Finish(); err != nil {
		t.Fatal(err)
	}
	if left > 500 {
		t.Errorf("the handler got %d ms after an attempt interceptor took 600 ms of a 1 s deadline", left)
	}
}

// serveRemaining serves leftDesc, whose handler answers the milliseconds left of its
// context's deadline, and returns its address.
func serveRemaining(t *testing.T) string {
	s := NewServer(ServerOptions{Logger: quiet})
	h := func(ctx context.Context, args *Decoder, res *Encoder) error {
		if err := args.Finish(); err != nil {
			return err
		}
		dl, _ := ctx.Deadline()
		EncodeInt(res, time.Until(dl).Milliseconds())
		return nil
	}
	if err := s.Register(&leftDesc, []Handler{h}); err != nil {
		t.Fatal(err)
	}
	addr := serve(t, s.Serve, s.Close)
	return addr
}

// TestWaitErrorSaysTheCallGoesOn: the end of Wait's own context stops the wait, not
// the call, and its error says so, and what to do; the call's outcome comes later.
func TestWaitErrorSaysTheCallGoesOn(t *testing.T) {
	_, l, addr := startLedger(t, ServerOptions{})
	c := newLedgerClient(t, ClientOptions{Resolver: StaticAddress(addr)})
	f := ledgerAsync(c, context.Background(), 0, 2) // waits for its gate
	wctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := f.Wait(wctx)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "not the call, which goes on") {
		t.Errorf("Wait's error when its own context ended: %v, want context.DeadlineExceeded, saying the call goes on", err)
	}
	close(l.gate)
	if _, err := f.Wait(context.Background()); err != nil {
		t.Errorf("the call after its first Wait ended: %v, want its outcome", err)
	}
}

// startDeaf accepts connections and never reads from them: a provider that stopped
// reading while its connections stay open.
func startDeaf(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, nc)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		mu.Lock()
		for _, nc := range conns {
			nc.Close()
		}
		mu.Unlock()
	})
	return ln.Addr().String()
}

// TestOnewayAsyncEndsByDeadline: InvokeOnewayAsync's future completes by the call's
// deadline, Timeout's or the context's, with or without interceptors, when its request
// still sits unwritten behind a peer that reads nothing, not when WriteTimeout closes
// the connection; and it says the request may still go out.
func TestOnewayAsyncEndsByDeadline(t *testing.T) {
	for _, tc := range []struct {
		name       string
		chain, ctx bool
	}{{"Timeout", false, false}, {"context", false, true}, {"Timeout, interceptors", true, false}, {"context, interceptors", true, true}} {
		t.Run(tc.name, func(t *testing.T) {
			const timeout = 300 * time.Millisecond
			opts := ClientOptions{Resolver: StaticAddress(startDeaf(t)), Timeout: timeout}
			if tc.chain {
				opts.AttemptInterceptors = []Interceptor{func(next Invoker) Invoker { return next }}
			}
			c := newLedgerClient(t, opts)
			call := c.NewCall(&ledgerDesc, 2)
			call.Args.String(strings.Repeat("x", 12<<20)) // more than the sockets hold
			ctx := context.Background()
			if tc.ctx {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, timeout)
				defer cancel()
			}
			start := time.Now()
			f := InvokeOnewayAsync(c, ctx, call)
			select {
			case <-f.Done():
			case <-time.After(timeout + 2*time.Second):
				t.Fatalf("the future of a oneway call with a deadline of %v is still open after %v, its request unwritten", timeout, time.Since(start))
			}
			_, err := f.Wait(context.Background())
			t.Logf("completed after %v: %v", time.Since(start), err)
			if CodeOf(err) != CodeDeadlineExceeded || !strings.Contains(err.Error(), "may still be written") {
				t.Errorf("after %v: %v, want deadline_exceeded saying the request may still be written", time.Since(start), err)
			}
		})
	}
}

// TestInvokeAsyncReturnsAtOnceWhenCongested: InvokeAsync and InvokeOnewayAsync do not
// hold their caller while the connection's write queue is full behind a peer that
// reads nothing: the attempt waits for room on a goroutine of the client's.
func TestInvokeAsyncReturnsAtOnceWhenCongested(t *testing.T) {
	for _, oneway := range []bool{false, true} {
		t.Run(fmt.Sprintf("oneway=%v", oneway), func(t *testing.T) {
			deaf := startDeaf(t)
			const timeout = 500 * time.Millisecond
			c := newLedgerClient(t, ClientOptions{Resolver: StaticAddress(deaf), Timeout: timeout})
			// Large oneway requests: the first fills the sockets, the next the
			// connection's write queue.
			for range 2 {
				call := c.NewCall(&ledgerDesc, 2)
				call.Args.String(strings.Repeat("x", 12<<20))
				if err := c.InvokeOneway(context.Background(), call); err != nil {
					t.Fatal(err)
				}
			}
			conn, err := c.Transport().Conn(context.Background(), deaf)
			if err != nil {
				t.Fatal(err)
			}
			for bound := time.Now().Add(5 * time.Second); !conn.Congested(); runtime.Gosched() {
				if time.Now().After(bound) {
					t.Fatal("the write queue is not full after 5 s")
				}
			}
			start := time.Now()
			var f interface{ Done() <-chan struct{} }
			if oneway {
				call := c.NewCall(&ledgerDesc, 2)
				EncodeInt(&call.Args, 0)
				f = InvokeOnewayAsync(c, context.Background(), call)
			} else {
				f = ledgerAsync(c, context.Background(), 0, 0)
			}
			if returned := time.Since(start); returned > timeout/2 {
				t.Errorf("the async call held its caller %v, waiting for room in the connection's write queue", returned)
			}
			waitFor(t, f.Done(), "the future")
			if oneway {
				_, err = f.(*Future[struct{}]).Wait(context.Background())
			} else {
				_, err = f.(*Future[int]).Wait(context.Background())
			}
			// The writer may take the queue meanwhile, and the request in with it: it
			// then waits for its answer instead.
			if waited := strings.Contains(err.Error(), "transport: write to"); CodeOf(err) != CodeDeadlineExceeded || waited && !strings.Contains(err.Error(), "the request was not sent") {
				t.Errorf("the future of a call that met its deadline behind a full write queue: %v, want deadline_exceeded, saying the request was not sent when it waited for room", err)
			}
		})
	}
}

// TestCallbacksBeforeCompletionRunInOrder: callbacks registered before the call
// completes run in the order registered, one after another.
func TestCallbacksBeforeCompletionRunInOrder(t *testing.T) {
	_, l, addr := startLedger(t, ServerOptions{})
	c := newLedgerClient(t, ClientOptions{Resolver: StaticAddress(addr)})
	f := ledgerAsync(c, context.Background(), 0, 2) // waits for its gate
	const n = 8
	var running atomic.Int32
	order := make(chan int, n)
	for i := range n {
		f.OnComplete(func(int, error) {
			if running.Add(1) > 1 {
				t.Errorf("callback %d ran beside another", i)
			}
			time.Sleep(time.Millisecond) // as a callback that takes a moment: another would overlap it
			order <- i
			running.Add(-1)
		})
	}
	close(l.gate)
	for want := range n {
		if got := waitFor(t, order, "a callback"); got != want {
			t.Errorf("callback %d ran in place %d", got, want)
		}
	}
}
