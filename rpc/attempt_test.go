package rpc

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ringrpc/ringrpc/transport"
)

// stallProxy forwards TCP between its address and a target until stalled: it then
// holds whatever either side sends, closing nothing, as a cut link does.
type stallProxy struct {
	addr   string
	ln     net.Listener
	mu     sync.Mutex
	thawed chan struct{} // closed while the link carries bytes
	conns  []net.Conn
	closed chan struct{}
	wg     sync.WaitGroup
}

func newStallProxy(t *testing.T, target string) *stallProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &stallProxy{addr: ln.Addr().String(), ln: ln, thawed: make(chan struct{}), closed: make(chan struct{})}
	close(p.thawed)
	p.wg.Go(func() { p.accept(target) })
	t.Cleanup(p.close)
	return p
}

func (p *stallProxy) accept(target string) {
	for {
		in, err := p.ln.Accept()
		if err != nil {
			return
		}
		out, err := net.Dial("tcp", target)
		if err != nil {
			in.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, in, out)
		p.mu.Unlock()
		p.wg.Go(func() { p.pipe(out, in) })
		p.wg.Go(func() { p.pipe(in, out) })
	}
}

// pipe copies from src to dst, holding each read while the link is stalled.
func (p *stallProxy) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			select {
			case <-p.link():
			case <-p.closed:
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				dst.(*net.TCPConn).CloseWrite()
			}
			return
		}
	}
}

func (p *stallProxy) link() chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.thawed
}

// stall stops the link: nothing sent from now on arrives.
func (p *stallProxy) stall() {
	p.mu.Lock()
	p.thawed = make(chan struct{})
	p.mu.Unlock()
}

// thaw lets the link carry bytes again, what it held first.
func (p *stallProxy) thaw() {
	p.mu.Lock()
	select {
	case <-p.thawed:
	default:
		close(p.thawed)
	}
	p.mu.Unlock()
}

func (p *stallProxy) close() {
	close(p.closed)
	p.ln.Close()
	p.mu.Lock()
	for _, c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// kvDesc has an idempotent Get and a Put that is not.
var kvDesc = ServiceDesc{Name: "example.com/attempt.KV", Methods: []MethodDesc{
	{Name: "Get", Results: []string{"string"}, Idempotent: true},
	{Name: "Put", Results: []string{"string"}},
}}

// kvProvider serves kvDesc; its calls answer name, or, when stuck, wait for their
// context, send its error on ended and return it.
type kvProvider struct {
	addr  string
	ran   chan string
	ended chan error
}

func startKV(t *testing.T, name string, stuck bool) *kvProvider {
	t.Helper()
	p := &kvProvider{ran: make(chan string, 100), ended: make(chan error, 100)}
	s := NewServer(ServerOptions{Logger: quiet, Transport: transport.ServerOptions{ConnOptions: transport.ConnOptions{Logger: quiet}}})
	h := func(method string) Handler {
		return func(ctx context.Context, args *Decoder, res *Encoder) error {
			if err := args.Finish(); err != nil {
				return err
			}
			p.ran <- method
			if stuck {
				<-ctx.Done()
				p.ended <- ctx.Err()
				return ctx.Err()
			}
			res.String(name)
			return nil
		}
	}
	if err := s.Register(&kvDesc, []Handler{h("Get"), h("Put")}); err != nil {
		t.Fatal(err)
	}
	p.addr = serve(t, s.Serve, s.Close)
	return p
}

// inOrder resolves to its addresses, always in this order.
type inOrder []string

func (o inOrder) Resolve(_ context.Context, _ *Call, dst []string) ([]string, error) {
	return append(dst, o...), nil
}

func kvCall(c *Client, ctx context.Context, method int, async bool) (string, error) {
	decode := func(d *Decoder) (string, error) {
		var s string
		d.String(&s)
		return s, d.Finish()
	}
	if async {
		return InvokeAsync(c, ctx, c.NewCall(&kvDesc, method), decode).Wait(context.Background())
	}
	d, err := c.Invoke(ctx, c.NewCall(&kvDesc, method))
	if err != nil {
		return "", err
	}
	return decode(&d)
}

// A provider that stopped answering (its link stalled, or its handler stuck) costs
// an idempotent call half its deadline, not all of it: the call moves to the next
// provider and succeeds there; the first gets a cancel notice when its connection
// still carries one, and is reported, once.
func TestAttemptTimeoutMovesOn(t *testing.T) {
	const deadline = 2 * time.Second
	for _, tc := range []struct {
		name  string
		async bool
		stuck bool // else the link stalls
	}{
		{"stalled link, sync", false, false},
		{"stalled link, async", true, false},
		{"stuck handler, sync", false, true},
		{"stuck handler, async", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := startKV(t, "bad", tc.stuck)
			good := startKV(t, "good", false)
			badAddr := bad.addr
			var proxy *stallProxy
			if !tc.stuck {
				proxy = newStallProxy(t, bad.addr)
				badAddr = proxy.addr
			}
			res := &recordingResolver{Resolver: inOrder{badAddr, good.addr}}
			_, c := newGreeterClient(t, ClientOptions{Resolver: res})
			// Open the connection first, so that the stall meets an established one.
			if _, err := c.Transport().Conn(context.Background(), badAddr); err != nil {
				t.Fatal(err)
			}
			if proxy != nil {
				proxy.stall()
			}
			ctx, cancel := context.WithTimeout(context.Background(), deadline)
			defer cancel()
			end, _ := ctx.Deadline()
			got, err := kvCall(c, ctx, 0, tc.async)
			took := time.Since(end.Add(-deadline)) // from the context's start, not a stopwatch's
			if err != nil || got != "good" {
				t.Fatalf("idempotent call with a silent first provider: %q, %v after %v", got, err, took)
			}
			// Half the deadline, a backoff of at most 10 ms, and the good call.
			if took < deadline/2-50*time.Millisecond || took > deadline/2+400*time.Millisecond {
				t.Errorf("the call took %v, want about %v", took, deadline/2)
			}
			if r := res.reported(); len(r) != 1 || !strings.HasPrefix(r[0], badAddr) {
				t.Errorf("reported %q, want the silent provider once", r)
			}
			if tc.stuck {
				if err := waitFor(t, bad.ended, "the stuck handler's context to end"); !errors.Is(err, context.Canceled) {
					t.Errorf("the stuck handler's context ended with %v, want the cancel notice's context.Canceled", err)
				}
			}
		})
	}
}

// The attempt timeout applies only where the call can still move: not to calls that
// may not run twice, not to the last provider, not when turned off. Those wait for
// the deadline, on the one provider.
func TestAttemptTimeoutOnlyWhenTheCallCanMove(t *testing.T) {
	const deadline = 600 * time.Millisecond
	for _, tc := range []struct {
		name    string
		method  int
		only    bool // the stuck provider is the only one
		setting time.Duration
	}{
		{"not idempotent", 1, false, 0},
		{"last provider", 0, true, 0},
		{"turned off", 0, false, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stuck := startKV(t, "stuck", true)
			order := inOrder{stuck.addr}
			if !tc.only {
				order = append(order, startKV(t, "good", false).addr)
			}
			_, c := newGreeterClient(t, ClientOptions{Resolver: order, Retry: RetryPolicy{AttemptTimeout: tc.setting}})
			ctx, cancel := context.WithTimeout(context.Background(), deadline)
			defer cancel()
			end, _ := ctx.Deadline()
			_, err := kvCall(c, ctx, tc.method, false)
			if early := time.Until(end); !errors.Is(err, ErrDeadlineExceeded) || early > 0 {
				t.Fatalf("%v %v before the deadline, want deadline_exceeded once the whole %v passed", err, early, deadline)
			}
			waitFor(t, stuck.ran, "the stuck provider's call")
		})
	}
}

// A fixed AttemptTimeout is used as given; the default is half of what remains,
// and none under 100 ms or past the deadline.
func TestAttemptShare(t *testing.T) {
	for _, tc := range []struct {
		remaining, setting, want time.Duration
	}{
		{2 * time.Second, 0, time.Second},
		{300 * time.Millisecond, 0, 150 * time.Millisecond},
		{150 * time.Millisecond, 0, 0},
		{2 * time.Second, 300 * time.Millisecond, 300 * time.Millisecond},
		{2 * time.Second, 50 * time.Millisecond, 50 * time.Millisecond},
		{2 * time.Second, 3 * time.Second, 0},
		{2 * time.Second, -1, 0},
		{0, 0, 0},
	} {
		if got := attemptShare(tc.remaining, tc.setting); got != tc.want {
			t.Errorf("attemptShare(%v, %v) = %v, want %v", tc.remaining, tc.setting, got, tc.want)
		}
	}
}

// A spent retry budget applies no attempt timeout: the call could not move.
func TestAttemptTimeoutNeedsTheBudget(t *testing.T) {
	b := newRetryBudget(RetryPolicy{MaxTokens: 4})
	if !b.allows() {
		t.Fatal("a full budget allows no move")
	}
	for b.failed() {
	}
	if b.allows() {
		t.Fatal("a spent budget allows a move")
	}
}

// A call that may not run twice, on a connection the heartbeat finds dead, fails as
// unavailable at once, not when its deadline passes.
func TestDeadConnectionFailsUnavailable(t *testing.T) {
	p := startKV(t, "p", false)
	proxy := newStallProxy(t, p.addr)
	hb := transport.ConnOptions{HeartbeatInterval: 250 * time.Millisecond, HeartbeatTimeout: 250 * time.Millisecond, Logger: quiet}
	for _, async := range []bool{false, true} {
		_, c := newGreeterClient(t, ClientOptions{Resolver: StaticAddress(proxy.addr), Transport: transport.ClientOptions{ConnOptions: hb}})
		if _, err := kvCall(c, context.Background(), 1, async); err != nil {
			t.Fatal(err)
		}
		proxy.stall()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		start := time.Now()
		_, err := kvCall(c, ctx, 1, async)
		cancel()
		took := time.Since(start)
		if CodeOf(err) != CodeUnavailable || !strings.Contains(err.Error(), "presumed dead") {
			t.Fatalf("async %v: %v after %v, want unavailable: presumed dead", async, err, took)
		}
		if took > 2*time.Second {
			t.Errorf("async %v: the dead connection was found after %v, want about 600 ms", async, took)
		}
		c.Close()
		proxy.thaw()
	}
}

// BenchmarkHelloIdempotent is the hello call of an idempotent method with a second
// provider to move to: with the default attempt timeout, and without one.
func BenchmarkHelloIdempotent(b *testing.B) {
	addr := benchAddr(b)
	desc := greeterDesc
	desc.Methods = append([]MethodDesc(nil), greeterDesc.Methods...)
	desc.Methods[0].Idempotent = true
	for _, tc := range []struct {
		name    string
		setting time.Duration
	}{{"attempt-timeout", 0}, {"none", -1}} {
		b.Run(tc.name, func(b *testing.B) {
			c, err := NewClient(ClientOptions{Resolver: inOrder{addr, addr}, Retry: RetryPolicy{AttemptTimeout: tc.setting}})
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
			defer cancel()
			b.ReportAllocs()
			for b.Loop() {
				call := c.NewCall(&desc, 0)
				call.Args.String("a")
				call.Args.String("b")
				if _, err := c.Invoke(ctx, call); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// notifying resolves in order and lets the test tell its client that a provider
// failed.
type notifying struct {
	inOrder
	mu  sync.Mutex
	fns []func(string)
}

func (n *notifying) OnProviderFailed(fn func(string)) func() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.fns = append(n.fns, fn)
	return func() {}
}

func (n *notifying) fail(addr string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, fn := range n.fns {
		fn(addr)
	}
}

// A provider the resolver finds unreachable loses its connections at once: an
// idempotent call waiting on it moves to the next provider, and one that may not run
// twice fails as unavailable, neither waiting for its deadline.
func TestFailedProviderConnectionsClose(t *testing.T) {
	for _, tc := range []struct {
		name   string
		method int
		want   string // the answer, or the error's code
	}{
		{"idempotent", 0, "good"},
		{"not idempotent", 1, "unavailable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stuck := startKV(t, "stuck", true)
			good := startKV(t, "good", false)
			res := &notifying{inOrder: inOrder{stuck.addr, good.addr}}
			_, c := newGreeterClient(t, ClientOptions{Resolver: res, Retry: RetryPolicy{AttemptTimeout: -1}})
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			type result struct {
				got string
				err error
			}
			done := make(chan result, 1)
			start := time.Now()
			go func() {
				got, err := kvCall(c, ctx, tc.method, false)
				done <- result{got, err}
			}()
			waitFor(t, stuck.ran, "the call on the stuck provider")
			res.fail(stuck.addr)
			r := waitFor(t, done, "the call")
			got := r.got
			if r.err != nil {
				got = CodeOf(r.err).String()
				if !strings.Contains(r.err.Error(), "unreachable") {
					t.Errorf("error %v does not say the provider was found unreachable", r.err)
				}
			}
			if got != tc.want || time.Since(start) > 2*time.Second {
				t.Fatalf("%q, %v after %v; want %s at once", r.got, r.err, time.Since(start), tc.want)
			}
		})
	}
}
