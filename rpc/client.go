package rpc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ringrpc/ringrpc/internal/sem"
	"github.com/ringrpc/ringrpc/transport"
)

// DefaultTimeout is the deadline of a call whose context has none.
const DefaultTimeout = 3 * time.Second

// ClientOptions configures a Client.
type ClientOptions struct {
	// Resolver chooses the provider of each call. Required: StaticAddress for one
	// server, StaticList for a fixed set, a registry.Registry for a gossip cluster.
	Resolver Resolver
	// Timeout is the deadline of a call whose context has none, set once when Invoke,
	// InvokeOneway, InvokeAsync or InvokeOnewayAsync is called: as a context deadline
	// would, it bounds the whole call, its wait for an async slot, the resolver's wait
	// for a provider, attempts, the time their interceptors take, dials and moves to
	// other providers included, and the provider's handler gets what remains of it. A resolver that may wait (any but
	// StaticAddress and StaticList; an ImmediateResolver only when it has no provider
	// at once) gets a context that ends at Timeout, and at Close, but reports no
	// deadline, so that its own bound for calls without one (registry.Options.ReadyWait)
	// applies when shorter. A first attempt on an open connection, sent within a
	// millisecond of the call's start, ends between Timeout and Timeout plus a
	// sixteenth of it (2 ms under a Timeout of 32 ms), at most 250 ms more, plus its wait for a sync permit when all
	// are in use (the transport's reaper times it out from the send, without a timer);
	// any other call ends at Timeout. A stream without a context deadline has none:
	// Timeout bounds only its dial and its wait for a permit. Default DefaultTimeout.
	Timeout time.Duration
	// Interceptors wrap every call, the first outermost; a stream's for its whole
	// life (Interceptor says how).
	Interceptors []Interceptor
	// AttemptInterceptors wrap every attempt of a call: its send to one provider, or a
	// stream's opening on one, with Call.Peer, Call.Attempt and Call.LastError set.
	// They run inside Interceptors, once per provider tried. The call moves to the next
	// provider only when they return the very error next returned and it allows a move;
	// any other error, their own or one they wrap, ends the call.
	AttemptInterceptors []Interceptor
	// RetryAfterSend lets every call fail over after its request left, as calls of
	// Idempotent methods and calls with WithRetry do.
	RetryAfterSend bool
	// Retry bounds the moves of calls to other providers after failures.
	Retry RetryPolicy
	// Transport configures the connections; its Timeout is replaced by Timeout.
	Transport transport.ClientOptions
}

// Client calls services through a Resolver. It is safe for concurrent use; create one
// per process and share it between generated clients.
type Client struct {
	tc             *transport.Client
	resolver       Resolver
	reporter       FailureReporter
	timeout        time.Duration
	timeoutMS      string // timeout in the form of headerTimeout, sent by calls without a deadline
	connectTimeout time.Duration
	retry          bool
	budget         *retryBudget
	baseBackoff    time.Duration
	maxBackoff     time.Duration
	attemptTimeout time.Duration // RetryPolicy.AttemptTimeout as given
	invoke         Invoker
	attemptChain   Invoker // nil without AttemptInterceptors
	hasChain       bool
	now            ImmediateResolver // the resolver, when it tells whether it must wait
	// The same chains around a stream's range (Call.life) and its opening on one
	// provider; streamAttempt is nil without AttemptInterceptors.
	streamInvoke, streamAttempt Invoker
	log                         *slog.Logger

	// run runs what must not run on a connection's reader: future callbacks, the
	// interceptor chains of async calls and their moves to the next provider.
	run *runner
	// asyncSlots bounds async calls in flight, their callbacks included.
	asyncSlots *sem.Semaphore

	closed    atomic.Bool // read by every async call
	life      context.Context
	endLife   context.CancelFunc // at Close: ends the resolvers' waits
	failovers atomic.Uint64      // moves to another provider: ClientStats.Failovers
	unnotify  func()             // ends the resolver's failure notices; nil without them
}

// NewClient returns a client; it connects to providers on first use.
func NewClient(opts ClientOptions) (*Client, error) {
	if opts.Resolver == nil {
		return nil, errors.New("rpc: rpc.ClientOptions.Resolver is required: use rpc.StaticAddress(addr) for a single server")
	}
	topts := opts.Transport
	topts.Timeout = orDefault(opts.Timeout, DefaultTimeout)
	c := &Client{
		tc:             transport.NewClient(topts),
		resolver:       opts.Resolver,
		timeout:        topts.Timeout,
		timeoutMS:      strconv.FormatInt(max(topts.Timeout.Milliseconds(), 1), 10),
		connectTimeout: orDefault(topts.ConnectTimeout, transport.DefaultConnectTimeout),
		retry:          opts.RetryAfterSend,
		budget:         newRetryBudget(opts.Retry),
		baseBackoff:    orDefault(opts.Retry.Backoff, 10*time.Millisecond),
		maxBackoff:     orDefault(opts.Retry.MaxBackoff, 200*time.Millisecond),
		attemptTimeout: opts.Retry.AttemptTimeout,
		hasChain:       len(opts.Interceptors)+len(opts.AttemptInterceptors) > 0,
		log:            topts.Logger,
		asyncSlots:     sem.New(orDefault(topts.AsyncPermits, transport.DefaultClientAsyncPermits)),
	}
	if c.log == nil {
		c.log = slog.Default()
	}
	c.run = newRunner(c.log)
	c.reporter, _ = opts.Resolver.(FailureReporter)
	c.now, _ = opts.Resolver.(ImmediateResolver)
	c.life, c.endLife = context.WithCancel(context.Background())
	if n, ok := opts.Resolver.(FailureNotifier); ok {
		c.unnotify = n.OnProviderFailed(c.providerFailed)
	}
	interceptors := append([]Interceptor(nil), opts.Interceptors...)
	c.invoke = chain(interceptors, c.send)
	c.streamInvoke = chain(interceptors, runLife)
	if len(opts.AttemptInterceptors) > 0 {
		attempts := append([]Interceptor(nil), opts.AttemptInterceptors...)
		c.attemptChain = chain(attempts, c.runAttempt)
		c.streamAttempt = chain(attempts, c.openAttempt)
	}
	return c, nil
}

// Transport returns the underlying transport client.
func (c *Client) Transport() *transport.Client { return c.tc }

// Close flushes the oneway calls already queued, fails the other calls in flight with
// ErrClosed, closes every connection and waits for the client's goroutines, future
// callbacks included: a callback must not call Close.
func (c *Client) Close() error {
	c.closed.Store(true)
	c.endLife()
	if c.unnotify != nil {
		c.unnotify()
	}
	err := c.tc.Close()
	c.run.close()
	return err
}

func (c *Client) isClosed() bool { return c.closed.Load() }

// NewCall starts a call of svc's method number method; generated code writes the
// arguments into its Args and passes it to Invoke, InvokeOneway or InvokeAsync, which
// take ownership.
func (c *Client) NewCall(svc *ServiceDesc, method int) *Call {
	call := getCall(svc, &svc.Methods[method])
	call.Args.reset(call.body, true)
	call.Args.describe(call.m, false)
	return call
}

// Invoke sends the call, waits for its response and returns a Decoder over the
// results. Errors are *Error values.
func (c *Client) Invoke(ctx context.Context, call *Call) (Decoder, error) {
	c.begin(ctx, call)
	err := c.invoke(ctx, call)
	var d Decoder
	if err == nil {
		d = newDecoder(call.resp.Body, call.m.resultsArray())
		d.result = true
		d.m = call.m
		d.resp = call.resp // given back by Finish
	}
	putCall(call)
	return d, err
}

// InvokeOneway sends the call with the oneway flag and returns once it is queued.
// The call carries its context's deadline or, when the context has none, Timeout: a
// provider that has not started it by then drops it unrun, and no one hears of it; so
// does a provider whose queue for it is full, where a call would be answered
// SYSTEM_BUSY.
func (c *Client) InvokeOneway(ctx context.Context, call *Call) error {
	c.begin(ctx, call)
	err := c.invoke(ctx, call)
	putCall(call)
	return err
}

// begin starts the deadline of a call whose context has none: Timeout from now, once
// for the whole call, its waits and an interceptor's second run of it included.
func (c *Client) begin(ctx context.Context, call *Call) {
	if _, ok := ctx.Deadline(); !ok {
		call.deadline = time.Now().Add(c.timeout)
	}
}

// prepare encodes the request command: headers, deadline, metadata, arguments.
func (c *Client) prepare(ctx context.Context, call *Call) error {
	body := call.body
	if len(body) == 0 { // else an interceptor runs the call again: it is encoded
		var err error
		body, err = call.Args.finish()
		if err != nil {
			return Errorf(CodeBadArguments, "encoding the arguments of %s.%s: %w", call.svc.Name, call.m.Name, err)
		}
		call.body = body
	}
	if _, ok := ctx.Deadline(); ok {
		call.deadline = time.Time{} // an interceptor gave the call a deadline of its own
	} else if call.deadline.IsZero() {
		c.begin(ctx, call)
	}
	call.sentMS = max(c.timeout.Milliseconds(), 1) // what c.timeoutMS says
	return writeRequest(ctx, call, body, c.timeoutMS, "call")
}

// stale reports whether the deadline the call carries, its context's or else its
// own, is over a millisecond longer than what remains of it: an async slot, the
// resolver or an attempt interceptor took time since it was encoded. Its handler
// would get that time again, and, without a context deadline, the transport's
// timeout of the attempt, a fresh Timeout, would overrun the call's deadline, which
// must then be a context's (callDeadline).
func stale(ctx context.Context, call *Call) bool {
	dl := deadlineOf(ctx, call)
	return !dl.IsZero() && call.sentMS-time.Until(dl).Milliseconds() > 1
}

// deadlineOf returns the call's deadline: its context's, else the one Timeout set at
// its start, else the zero time.
func deadlineOf(ctx context.Context, call *Call) time.Time {
	if dl, ok := ctx.Deadline(); ok {
		return dl
	}
	return call.deadline
}

// writeRequest writes call's request command with body: the interface, the method,
// the remaining deadline or, without one, timeout (none when empty), and the
// metadata. what names the call in errors.
func writeRequest(ctx context.Context, call *Call, body []byte, timeout, what string) error {
	if errors.Is(ctx.Err(), context.Canceled) { // the caller wants no outcome: send nothing
		return Errorf(CodeCanceled, "%s %s.%s: its context was cancelled before it was sent: %w", what, call.svc.Name, call.m.Name, context.Cause(ctx))
	}
	if dl, ok := ctx.Deadline(); ok {
		remaining := time.Until(dl)
		if remaining <= 0 {
			return Errorf(CodeDeadlineExceeded, "%s %s.%s: the deadline passed before it was sent", what, call.svc.Name, call.m.Name)
		}
		call.sentMS = max(remaining.Milliseconds(), 1)
		timeout = strconv.FormatInt(call.sentMS, 10)
	}
	ext := append(call.ext[:0],
		transport.Field{Key: HeaderInterface, Value: call.svc.Name},
		transport.Field{Key: HeaderMethod, Value: call.m.Name})
	if timeout != "" {
		ext = append(ext, transport.Field{Key: headerTimeout, Value: timeout})
	}
	ext = putMetadata(ext, OutgoingMetadata(ctx))
	call.ext = ext
	call.cmd = transport.Command{} // cleared in place, then filled: cheaper than copying a literal
	call.cmd.Code, call.cmd.ExtFields, call.cmd.Body = RequestCode, ext, body
	return nil
}

// refreshDeadline rewrites the remaining deadline a call carries, its context's or
// else the call's own, before an attempt that comes after others or when it is
// stale: the time they took is gone.
func (c *Client) refreshDeadline(ctx context.Context, call *Call) {
	dl := deadlineOf(ctx, call)
	if dl.IsZero() {
		return
	}
	if len(call.ext) > 2 && call.ext[2].Key == headerTimeout {
		call.sentMS = max(time.Until(dl).Milliseconds(), 1)
		call.ext[2].Value = strconv.FormatInt(call.sentMS, 10)
	}
}

// resolve puts the providers to try, best first, in call.addrs. A resolver that may
// wait for a provider does so within the call's deadline, and until Close: its
// context ends then (see waitCtx).
func (c *Client) resolve(ctx context.Context, call *Call) error {
	if c.resolveNow(ctx, call) {
		return nil
	}
	return c.resolveWaiting(ctx, call)
}

// resolveWaiting resolves with a context that ends at the call's deadline and at
// Close (waitCtx), for a resolver that may wait.
func (c *Client) resolveWaiting(ctx context.Context, call *Call) error {
	t := &waitCtx{Context: ctx, deadline: call.deadline, life: c.life}
	addrs, err := c.resolver.Resolve(t, call, call.addrs[:0])
	addrs = distinct(addrs)
	call.addrs = addrs
	closed := t.closedIt()
	t.release()
	if closed && (err != nil || len(addrs) == 0) {
		return closedError()
	}
	return c.resolved(call, err)
}

// resolved is the outcome of a resolve that returned err and call.addrs.
func (c *Client) resolved(call *Call, err error) error {
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			return err
		}
		code := CodeUnavailable
		if cc := CodeOf(err); cc == CodeCanceled || cc == CodeDeadlineExceeded {
			code = cc // the resolver gave up as its context ended
		}
		return Errorf(code, "resolving a provider of %s: %w", call.svc.Name, err)
	}
	if len(call.addrs) == 0 {
		return Errorf(CodeUnavailable, "no provider of service %s is known: start one, or check the service name and the resolver", call.svc.Name)
	}
	return nil
}

func (c *Client) replyMetadata(ctx context.Context, resp *transport.Command) {
	if dst, ok := ctx.Value(replyMDKey{}).(*Metadata); ok {
		*dst = takeMetadata(resp.ExtFields)
	}
}

// String describes the client, for logs.
func (c *Client) String() string { return fmt.Sprintf("rpc.Client(%T)", c.resolver) }

// resolveNow asks an ImmediateResolver for the providers it knows now, and reports
// whether it named some: a call whose providers are known needs nothing made for a
// wait, no context, timer or goroutine.
func (c *Client) resolveNow(ctx context.Context, call *Call) bool {
	if c.now == nil {
		return false
	}
	addrs, ok := c.now.ResolveNow(ctx, call, call.addrs[:0])
	addrs = distinct(addrs)
	call.addrs = addrs
	return ok && len(addrs) > 0
}

// distinct drops, in place, the addresses addrs names again after their first: a
// call tries each provider once however its resolver lists them (StaticList(a, a, b)).
func distinct(addrs []string) []string {
	if len(addrs) < 2 {
		return addrs
	}
	if len(addrs) > 16 {
		seen := make(map[string]bool, len(addrs))
		return slices.DeleteFunc(addrs, func(a string) bool {
			dup := seen[a]
			seen[a] = true
			return dup
		})
	}
	n := 1
	for _, a := range addrs[1:] {
		if !slices.Contains(addrs[:n], a) {
			addrs[n] = a
			n++
		}
	}
	return addrs[:n]
}

// waitCtx is the context a resolver waits with: the caller's, which ends at its own
// deadline, that also ends at the call's deadline when it has none (Timeout after the
// call's start; it reports no deadline, so that a resolver's own bound for such calls,
// registry.Options.ReadyWait, still applies when shorter) and when the client closes.
// Its timer and watches start only when the resolver asks for Done, as one does only
// to wait, and stop when Resolve returns.
type waitCtx struct {
	context.Context                 // the caller's
	deadline        time.Time       // the call's, when the caller's has none; else zero
	life            context.Context // the client's, which ends at Close

	mu      sync.Mutex
	done    chan struct{}
	err     error
	byClose bool // Close ended it
	timer   *time.Timer
	stops   [2]func() bool // stop the watches of the caller's context and of the client's
}

func (t *waitCtx) Done() <-chan struct{} {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.done != nil {
		return t.done
	}
	t.done = make(chan struct{})
	if t.err != nil { // released (a resolver that kept its context) or ended
		close(t.done)
		return t.done
	}
	if !t.deadline.IsZero() {
		t.timer = time.AfterFunc(time.Until(t.deadline), func() { t.end(context.DeadlineExceeded) })
	}
	if t.Context.Done() != nil {
		t.stops[0] = context.AfterFunc(t.Context, func() { t.end(t.Context.Err()) })
	}
	t.stops[1] = context.AfterFunc(t.life, func() { t.endByClose() })
	return t.done
}

func (t *waitCtx) endByClose() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.err == nil {
		t.byClose = true
	}
	t.endLocked(context.Canceled)
}

// closedIt reports whether the client's Close ended the wait, rather than the caller,
// the deadline or the resolver.
func (t *waitCtx) closedIt() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.err == nil && t.life.Err() != nil && t.Context.Err() == nil {
		return true // ended by now, though nobody asked Err or Done since
	}
	return t.byClose
}

func (t *waitCtx) Err() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.err == nil {
		switch {
		case t.Context.Err() != nil:
			t.endLocked(t.Context.Err())
		case !t.deadline.IsZero() && !time.Now().Before(t.deadline):
			t.endLocked(context.DeadlineExceeded)
		case t.life.Err() != nil:
			t.byClose = true
			t.endLocked(context.Canceled)
		}
	}
	return t.err
}

func (t *waitCtx) end(err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.endLocked(err)
}

func (t *waitCtx) endLocked(err error) {
	if t.err != nil {
		return
	}
	t.err = err
	if t.done != nil {
		close(t.done)
	}
}

// release stops the timer and the watches once Resolve has returned; a resolver that
// kept the context finds it ended.
func (t *waitCtx) release() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.timer != nil {
		t.timer.Stop()
	}
	for _, stop := range t.stops {
		if stop != nil {
			stop()
		}
	}
	t.endLocked(context.Canceled)
}
