package rpc

import (
	"context"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ringrpc/ringrpc/transport"
)

// probe is a service whose handlers report what their context does.
type probe struct {
	started chan struct{}
	ended   chan time.Time // a handler saw its context (or a context derived from it) end
	later   chan func()    // work a handler left to run after it returned
	ran     chan string    // names of handlers that ran
	derived chan int       // goroutines started by Derive's 100 derived contexts
}

var probeDesc = ServiceDesc{
	Name: "probe",
	Methods: []MethodDesc{
		{Name: "Block"},  // waits for its context to end
		{Name: "Keep"},   // hands its context to work that runs after it returned
		{Name: "Derive"}, // derives 100 contexts, then waits for them to end
		{Name: "Work"},   // works 300ms, ignoring its context
	},
}

func startProbe(t *testing.T, opts ServerOptions) (*Server, *probe, string) {
	t.Helper()
	p := &probe{
		started: make(chan struct{}, 10),
		ended:   make(chan time.Time, 10),
		later:   make(chan func(), 10),
		ran:     make(chan string, 10),
		derived: make(chan int, 10),
	}
	opts.Logger = quiet
	opts.Transport.Logger = quiet
	s := NewServer(opts)
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.Register(&probeDesc, []Handler{
		func(ctx context.Context, _ *Decoder, _ *Encoder) error {
			p.ran <- "Block"
			p.started <- struct{}{}
			<-ctx.Done()
			p.ended <- time.Now()
			return ctx.Err()
		},
		func(ctx context.Context, _ *Decoder, _ *Encoder) error {
			p.later <- func() {
				p.ran <- PeerFromContext(ctx)
				p.ran <- IncomingMetadata(ctx)["k"]
				if SetReplyMetadata(ctx, "late", "yes") {
					p.ran <- "SetReplyMetadata took a pair after the handler returned"
				}
				p.ran <- ctx.Err().Error()
			}
			return nil
		},
		func(ctx context.Context, _ *Decoder, _ *Encoder) error {
			before := runtime.NumGoroutine()
			children := make([]context.Context, 100)
			for i := range children {
				parent := ctx
				if i%2 == 1 { // through a value layer, as interceptors add them
					parent = context.WithValue(ctx, probeKey{}, i)
				}
				var cancel context.CancelFunc
				children[i], cancel = context.WithTimeout(parent, time.Hour)
				defer cancel()
			}
			p.derived <- runtime.NumGoroutine() - before
			for _, c := range children {
				<-c.Done()
			}
			p.ended <- time.Now()
			return ctx.Err()
		},
		func(ctx context.Context, _ *Decoder, _ *Encoder) error {
			p.ran <- "Work"
			p.started <- struct{}{}
			work := time.NewTimer(time.Second) // long enough that what queues behind it on a loaded machine still waits
			defer work.Stop()
			<-work.C
			return nil
		},
	}))
	addr := serve(t, s.Serve, s.Close)
	return s, p, addr
}

func newProbeClient(t *testing.T, addr string) *Client {
	_, c := newGreeterClient(t, ClientOptions{Resolver: StaticAddress(addr)})
	return c
}

func invokeProbe(c *Client, ctx context.Context, method int) <-chan error {
	done := make(chan error, 1)
	go func() {
		_, err := c.Invoke(ctx, c.NewCall(&probeDesc, method))
		done <- err
	}()
	return done
}

// TestCancelReachesHandler: a caller that cancels, or whose client closes, ends the
// handler's context at once.
func TestCancelReachesHandler(t *testing.T) {
	_, p, addr := startProbe(t, ServerOptions{})
	c := newProbeClient(t, addr)
	var took []time.Duration
	for range 5 {
		ctx, cancel := context.WithCancel(context.Background())
		done := invokeProbe(c, ctx, 0)
		waitFor(t, p.started, "the handler to start")
		at := time.Now()
		cancel()
		if err := waitFor(t, done, "the call"); CodeOf(err) != CodeCanceled {
			t.Fatalf("cancelled call: %v", err)
		}
		took = append(took, waitFor(t, p.ended, "the handler's context to end").Sub(at))
	}
	sort.Slice(took, func(i, j int) bool { return took[i] < took[j] })
	t.Logf("caller's cancel to the handler's context: median %v, max %v", took[2], took[4])
	// The median says how soon; the slowest only that the notice arrived, as a
	// loaded machine may hold any one of them up.
	if took[2] > 200*time.Millisecond || took[4] > 2*time.Second {
		t.Fatalf("the handler saw the cancel after a median %v, at most %v; want within 200ms, and every one within 2s", took[2], took[4])
	}

	done := invokeProbe(c, context.Background(), 0)
	waitFor(t, p.started, "the handler to start")
	c.Close()
	waitFor(t, p.ended, "the handler's context to end on the client's Close")
	if err := waitFor(t, done, "the call"); err == nil {
		t.Fatal("a call cut by Close succeeded")
	}
}

// TestHandlerCtxSafeToKeep: a goroutine started by a handler may use the handler's
// context after the handler returned, while the server serves other calls: it reads
// the same metadata and peer, and the context has ended.
func TestHandlerCtxSafeToKeep(t *testing.T) {
	_, p, addr := startProbe(t, ServerOptions{Workers: 1})
	c := newProbeClient(t, addr)
	ctx := WithMetadata(context.Background(), "k", "v")
	if err := waitFor(t, invokeProbe(c, ctx, 1), "Keep"); err != nil {
		t.Fatal(err)
	}
	later := waitFor(t, p.later, "the handler's later work")
	// More calls on the single worker: the first call's pooled state is reused.
	for range 3 {
		if err := waitFor(t, invokeProbe(c, context.Background(), 1), "Keep"); err != nil {
			t.Fatal(err)
		}
		<-p.later
	}
	later()
	if peer := <-p.ran; peer == "" {
		t.Fatal("PeerFromContext after return: empty")
	}
	if v := <-p.ran; v != "v" {
		t.Fatalf("IncomingMetadata after return: %q, want the caller's", v)
	}
	if v := <-p.ran; v != context.Canceled.Error() {
		t.Fatalf("after return: %s, want the context ended", v)
	}
}

// TestHandlerCtxDerivesWithoutGoroutines: 100 contexts derived from a handler's context
// start no goroutine, and end with it.
func TestHandlerCtxDerivesWithoutGoroutines(t *testing.T) {
	_, p, addr := startProbe(t, ServerOptions{})
	c := newProbeClient(t, addr)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	done := invokeProbe(c, ctx, 2)
	if n := waitFor(t, p.derived, "the derivations"); n > 5 {
		t.Fatalf("100 derived contexts started %d goroutines, want none", n)
	}
	waitFor(t, p.ended, "the derived contexts to end with the caller's deadline")
	if err := waitFor(t, done, "the call"); CodeOf(err) != CodeDeadlineExceeded {
		t.Fatalf("call: %v, want its deadline", err)
	}
}

// TestExpiredInQueueIsNotRun: a call whose deadline passed while it waited for a
// worker is answered deadline_exceeded without running, oneway or not, and counted.
func TestExpiredInQueueIsNotRun(t *testing.T) {
	s, p, addr := startProbe(t, ServerOptions{Workers: 1})
	c := newProbeClient(t, addr)
	busy := invokeProbe(c, context.Background(), 3) // holds the only worker 1 s
	waitFor(t, p.started, "the worker to be busy")
	<-p.ran
	// Sent by the transport without a deadline of its own, so that no cancel notice
	// follows: only the carried deadline can stop it.
	tc := c.Transport()
	req := func(flag int32) *transport.Command {
		r := transport.NewRequest(RequestCode, transport.Fields{
			{Key: HeaderInterface, Value: probeDesc.Name},
			{Key: HeaderMethod, Value: "Work"},
			{Key: headerTimeout, Value: "50"},
		}, []byte("[]"))
		r.Flag = flag
		return r
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(tc.InvokeOneway(context.Background(), addr, req(transport.FlagOneway)))
	resp, err := tc.InvokeSync(context.Background(), addr, req(0))
	must(err)
	if resp.Code != toWire(CodeDeadlineExceeded) || !strings.Contains(resp.Remark, "expired in the provider's queue after") {
		t.Fatalf("expired call answered %v, want deadline_exceeded saying it expired in the queue", resp)
	}
	t.Logf("remark: %s", resp.Remark)
	if err := waitFor(t, busy, "the first call"); err != nil {
		t.Fatal(err)
	}
	if n := s.expired.Load(); n != 2 {
		t.Fatalf("%d expired calls counted, want 2 (one oneway)", n)
	}
	select {
	case name := <-p.ran:
		t.Fatalf("%s ran after its deadline passed in the queue", name)
	default:
	}
}

// TestCancelledInQueueIsNotRun: a call whose caller cancelled it while it waited for a
// worker does not run.
func TestCancelledInQueueIsNotRun(t *testing.T) {
	_, p, addr := startProbe(t, ServerOptions{Workers: 1})
	sending := &sendingHook{methods: make(chan string, 10)}
	opts := ClientOptions{Resolver: StaticAddress(addr)}
	opts.Transport.Hooks = []transport.Hook{sending}
	_, c := newGreeterClient(t, opts)
	busy := invokeProbe(c, context.Background(), 3) // holds the only worker 1 s
	waitFor(t, p.started, "the worker to be busy")
	<-p.ran
	<-sending.methods
	ctx, cancel := context.WithCancel(context.Background())
	queued := invokeProbe(c, ctx, 0)
	waitFor(t, sending.methods, "the call to be sent") // cancelled after it is on its way
	cancel()
	if err := waitFor(t, queued, "the cancelled call"); CodeOf(err) != CodeCanceled {
		t.Fatalf("cancelled call: %v", err)
	}
	if err := waitFor(t, busy, "the first call"); err != nil {
		t.Fatal(err)
	}
	// The worker is free again; a call after the cancelled one runs, so the cancelled
	// one was taken, and refused, before it.
	if err := waitFor(t, invokeProbe(c, context.Background(), 1), "Keep"); err != nil {
		t.Fatal(err)
	}
	<-p.later
	select {
	case name := <-p.ran:
		t.Fatalf("%s ran after its caller cancelled it", name)
	default:
	}
}

// sendingHook reports the method of every request about to be written.
type sendingHook struct{ methods chan string }

func (h *sendingHook) BeforeRequest(_ string, req *transport.Command) error {
	h.methods <- req.ExtFields.Get(HeaderMethod)
	return nil
}

func (h *sendingHook) AfterResponse(string, *transport.Command, *transport.Command) error {
	return nil
}

type probeKey struct{}

// The caller's deadline is ringrpc.timeout milliseconds from the request's arrival;
// a value that is not a positive number, or too large for a time.Duration, is none.
func TestRequestDeadline(t *testing.T) {
	for _, tc := range []struct {
		value string
		want  time.Duration // 0: no deadline
	}{
		{"1500", 1500 * time.Millisecond},
		{"0", 0},
		{"-5", 0},
		{"x", 0},
		{"9223372036854", 9223372036854 * time.Millisecond},
		{"9223372036855", 0},
		{"9223372036854775807", 0},
		{"99999999999999999999", 0},
	} {
		req := transport.NewRequest(RequestCode, transport.Fields{{Key: headerTimeout, Value: tc.value}}, nil)
		dl, timed := requestDeadline(req)
		if !timed {
			t.Errorf("%s: not seen", tc.value)
		}
		if !dl.IsZero() {
			if got := time.Until(dl); tc.want == 0 || got > tc.want || got < tc.want-time.Second {
				t.Errorf("%s: deadline in %v, want %v", tc.value, got, tc.want)
			}
		} else if tc.want != 0 {
			t.Errorf("%s: no deadline, want one in %v", tc.value, tc.want)
		}
	}
}
