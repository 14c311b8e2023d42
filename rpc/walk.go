package rpc

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/ringrpc/ringrpc/transport"
)

// A call walks its providers in the resolver's order: it is sent to the first, and a
// failure that proves the call did not run (or, for calls that allow it, a failure
// after it left) moves it to the next, within the call's deadline and the client's
// retry budget. Sync and async calls share every step below; they differ only in how
// they wait for an attempt's outcome.

// RetryPolicy bounds how calls move to other providers after a failure. Moves that
// cost a provider work (SYSTEM_BUSY, a connection lost after the request left) spend
// a retry budget, a token bucket as in gRPC's retry throttling: each such failure
// takes a token, each successful call gives back TokenRatio, and calls move only while
// more than half the tokens remain. Such moves also wait a jittered backoff first.
// Moves after a connect failure or a GO_AWAY are free: no provider did any work. The
// zero value works.
type RetryPolicy struct {
	// MaxTokens is the size of the budget. Default 100.
	MaxTokens int
	// TokenRatio is what a successful call gives back, a fraction of a token.
	// Default 0.1: moves are sustained while at most about one call in ten fails.
	TokenRatio float64
	// Backoff and MaxBackoff bound the wait before the nth paid move: a random
	// duration up to Backoff·2^(n-1), at most MaxBackoff, never past the deadline.
	// Defaults 10ms and 200ms.
	Backoff    time.Duration
	MaxBackoff time.Duration
}

// retryBudget is the token bucket of RetryPolicy, in thousandths of a token, so that
// a successful call costs an atomic load and, only while the bucket is not full, an
// add.
type retryBudget struct {
	tokens atomic.Int64
	max    int64
	ratio  int64
}

func newRetryBudget(p RetryPolicy) *retryBudget {
	b := &retryBudget{max: int64(orDefault(p.MaxTokens, 100)) * 1000, ratio: 100}
	if p.TokenRatio > 0 {
		b.ratio = max(int64(p.TokenRatio*1000), 1)
	}
	b.tokens.Store(b.max)
	return b
}

func (b *retryBudget) succeeded() {
	if b.tokens.Load() < b.max {
		if b.tokens.Add(b.ratio) > b.max {
			b.tokens.Store(b.max) // a racing add may overshoot by a few ratios: harmless
		}
	}
}

// failed takes a token and reports whether a move is still allowed.
func (b *retryBudget) failed() bool {
	for {
		t := b.tokens.Load()
		n := max(t-1000, 0)
		if b.tokens.CompareAndSwap(t, n) {
			return n > b.max/2
		}
	}
}

func orDefault[T int | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

// send is the innermost client invoker: encode, resolve, and walk the providers.
func (c *Client) send(ctx context.Context, call *Call) error {
	if err := c.prepare(ctx, call); err != nil {
		return err
	}
	if err := c.resolve(ctx, call); err != nil {
		return err
	}
	for n := 0; ; n++ {
		aerr, f := c.attemptVia(ctx, call, n)
		if aerr == nil {
			c.budget.succeeded()
			return nil
		}
		delay, err := c.move(ctx, call, n, aerr, f)
		if err != nil {
			return err
		}
		if delay > 0 {
			if err := sleepCtx(ctx, delay); err != nil {
				return backoffCut(err, aerr)
			}
		}
	}
}

// attemptVia runs the nth attempt through the attempt interceptors, when there are any.
func (c *Client) attemptVia(ctx context.Context, call *Call, n int) (*Error, fate) {
	call.attempt, call.peer = n, call.addrs[n]
	if c.attemptChain == nil {
		aerr, f := c.attempt(ctx, call, n)
		call.lastErr = errOrNil(aerr)
		return aerr, f
	}
	call.fate = fateFinal
	err := c.attemptChain(ctx, call)
	call.lastErr = err
	if err == nil {
		return nil, fateFinal
	}
	var aerr *Error
	if !errors.As(err, &aerr) {
		aerr = &Error{Code: CodeOf(err), Message: err.Error(), cause: err}
	}
	return aerr, call.fate // an interceptor's own error is final
}

// runAttempt is the innermost attempt invoker.
func (c *Client) runAttempt(ctx context.Context, call *Call) error {
	aerr, f := c.attempt(ctx, call, call.attempt)
	call.fate = f
	return errOrNil(aerr)
}

// errOrNil keeps a nil *Error from becoming a non-nil error.
func errOrNil(e *Error) error {
	if e == nil {
		return nil
	}
	return e
}

// attempt sends the call to its nth provider once and waits for the outcome: nil and
// call.resp set on success, else the error and what it proves.
func (c *Client) attempt(ctx context.Context, call *Call, n int) (*Error, fate) {
	conn, err := c.connect(ctx, call, n)
	if err != nil {
		return c.failed(ctx, call, err)
	}
	if call.m.Oneway {
		if err := invokeOneway(ctx, conn, call); err != nil {
			return c.failed(ctx, call, err)
		}
		return nil, fateFinal
	}
	resp, err := conn.InvokeSync(ctx, &call.cmd)
	if err != nil {
		return c.failed(ctx, call, err)
	}
	return c.answered(ctx, call, resp)
}

// invokeOneway queues a oneway call, and waits for its write when an async caller's
// future must say it was written.
func invokeOneway(ctx context.Context, conn *transport.Conn, call *Call) error {
	if !call.awaitWrite {
		return conn.InvokeOneway(ctx, &call.cmd)
	}
	written := make(chan error, 1)
	conn.InvokeOnewayAsync(ctx, &call.cmd, func(err error) { written <- err })
	return <-written
}

// connect makes the call's nth provider its peer, with what remains of the deadline,
// and returns the connection to it. A dial gets a share of
// what remains of the deadline, at most ConnectTimeout, so that a provider that never
// answers the connect leaves time for the next.
func (c *Client) connect(ctx context.Context, call *Call, n int) (*transport.Conn, error) {
	addr := call.addrs[n]
	call.peer = addr
	if n > 0 {
		c.refreshDeadline(ctx, call)
	}
	if conn := c.tc.Connected(addr); conn != nil {
		return conn, nil
	}
	remaining := c.timeout
	if dl, ok := ctx.Deadline(); ok {
		remaining = time.Until(dl)
	}
	budget := min(remaining/time.Duration(len(call.addrs)-n), c.connectTimeout)
	dctx, cancel := context.WithTimeout(ctx, budget)
	defer cancel()
	conn, err := c.tc.Conn(dctx, addr)
	if err != nil && ctx.Err() == nil && dctx.Err() != nil {
		err = fmt.Errorf("%w: %s did not accept the connection within %v, this attempt's share of the call's deadline (at most transport.ClientOptions.ConnectTimeout, in rpc.ClientOptions.Transport)", transport.ErrConnectFailed, addr, budget.Round(time.Millisecond))
		if budget < minReportedConnect {
			err = tightBudget{err}
		}
	}
	return conn, err
}

// minReportedConnect is the shortest connect budget whose expiry marks a provider as
// failing: a healthy provider may take longer than a caller's very tight deadline.
const minReportedConnect = 100 * time.Millisecond

// tightBudget is a connect failure that says more of the caller's deadline than of
// the provider: the call moves, but the provider is not reported.
type tightBudget struct{ error }

func (e tightBudget) Unwrap() error { return e.error }

// answered classifies a response.
func (c *Client) answered(ctx context.Context, call *Call, resp *transport.Command) (*Error, fate) {
	if resp.Code == transport.CodeSuccess {
		c.replyMetadata(ctx, resp)
		call.resp = resp
		return nil, fateFinal
	}
	err := &Error{Code: fromWire(resp.Code), Message: resp.Remark}
	f := responseFate(resp.Code)
	if f != fateFinal {
		c.report(call.peer, err)
	}
	return err, f
}

// failed classifies a transport error. The provider hears of it only when it may be at
// fault: not for the caller's own cancellation, a closed client or a local limit.
func (c *Client) failed(ctx context.Context, call *Call, err error) (*Error, fate) {
	f := transportFate(err)
	canceled := errors.Is(ctx.Err(), context.Canceled)
	var tight tightBudget
	if !canceled && !errors.As(err, &tight) && (f != fateFinal || errors.Is(err, transport.ErrTimeout)) {
		c.report(call.peer, err)
	}
	return fromTransport(err, c.target(call, call.peer)), f
}

// move decides, after the nth attempt failed with err, whether the call goes on to
// the next provider and after what wait; it returns the call's error when it does not.
func (c *Client) move(ctx context.Context, call *Call, n int, err *Error, f fate) (time.Duration, error) {
	if n+1 >= len(call.addrs) || ctx.Err() != nil || !f.mayMove(call.retryAfterSend(ctx, c.retry)) {
		return 0, err
	}
	if !f.costsBudget() {
		c.failovers.Add(1)
		return 0, nil
	}
	if !c.budget.failed() {
		return 0, &Error{Code: err.Code, Message: err.Message + " (not sent to another provider: the retry budget is spent, too many calls failed lately; see rpc.ClientOptions.Retry)", cause: err.cause}
	}
	c.failovers.Add(1)
	call.paidMoves++
	return c.backoff(call.paidMoves), nil
}

// backoff returns the jittered wait before the nth paid move.
func (c *Client) backoff(n int) time.Duration {
	ceiling := c.maxBackoff
	if n < 16 {
		ceiling = min(c.baseBackoff<<(n-1), c.maxBackoff)
	}
	return time.Duration(rand.Int64N(int64(ceiling) + 1))
}

// backoffCut is the error of a call whose context ended while it waited to move:
// the context's, saying what the last provider answered.
func backoffCut(ctxErr error, last *Error) *Error {
	e := fromTransport(ctxErr, "waiting to try the next provider")
	e.Message += "; the last provider said: " + last.Error()
	return e
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// retryAfterSend reports whether the call may move after its request left.
func (call *Call) retryAfterSend(ctx context.Context, all bool) bool {
	return all || call.m.Idempotent || ctx.Value(retryKey{}) != nil
}

func (c *Client) report(addr string, err error) {
	if c.reporter != nil {
		c.reporter.ReportFailure(addr, err)
	}
}

func (c *Client) target(call *Call, addr string) string {
	return "call " + call.svc.Name + "." + call.m.Name + " on " + addr
}
