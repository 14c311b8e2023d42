package rpc

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
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
// a retry budget, a token bucket like gRPC's retry throttling: each such move takes a
// token, each successful call gives back TokenRatio, and calls move only while more
// than half the tokens remain; unlike gRPC's, a failure the budget does not let move
// takes nothing, so that successes keep earning moves however many calls fail. Such
// moves also wait a jittered backoff first. Moves after a connect failure or a GO_AWAY are free: no provider did any work. The
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
	// AttemptTimeout bounds how long an attempt waits for its response while the
	// call could still move to another provider: a call of an Idempotent method, or
	// one that WithRetry or ClientOptions.RetryAfterSend lets move, that has a
	// provider left to try. When it runs out, the request gets a cancel notice on
	// its connection, the provider is reported (the registry then tries it last),
	// and the call moves on as after a lost connection: spending the retry budget,
	// after a backoff. The last provider, and every attempt of other calls, waits
	// for the call's deadline.
	//
	// Default (0): half of what remains of the deadline when the request is sent,
	// so that a provider that stopped answering costs a call half its deadline and
	// the next provider has the other half; a share under 100 ms is not applied, as
	// a healthy provider may need that long. A positive value is used as it is,
	// when shorter than what remains. Negative: attempts wait for the deadline.
	// No timeout is applied while the retry budget is spent: the call could not
	// move anyway.
	AttemptTimeout time.Duration
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

// allows reports whether a paid move would be allowed now, without taking a token.
func (b *retryBudget) allows() bool { return b.tokens.Load()-1000 > b.max/2 }

// failed takes a token for a move and reports whether it was allowed. A move refused
// takes nothing: the budget then stays near half full, and every TokenRatio's worth
// of successes earns one move, where a refused move that paid would drain it, and a
// cluster failing more than one call in ten would never move one again.
func (b *retryBudget) failed() bool {
	for {
		t := b.tokens.Load()
		if t-1000 <= b.max/2 {
			return false
		}
		if b.tokens.CompareAndSwap(t, t-1000) {
			return true
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
	if stale(ctx, call) {
		bound, release := c.callDeadline(ctx, call)
		defer release()
		ctx = bound
	}
	if aerr, f := c.attemptVia(ctx, call, 0); aerr != nil {
		if err := c.walkOn(ctx, call, aerr, f); err != nil {
			return err
		}
	}
	c.budget.succeeded() // the first attempt's or a later one's success
	return nil
}

// walkOn moves the call along its providers after its first attempt failed with
// aerr, until one succeeds (nil) or the call ends (its error). A call without a
// context deadline has, from here on, the one Timeout set at its start as its
// context's.
func (c *Client) walkOn(ctx context.Context, call *Call, aerr *Error, f fate) error {
	ctx, release := c.callDeadline(ctx, call)
	defer release()
	for n := 0; ; n++ {
		delay, err := c.move(ctx, call, n, aerr, f)
		if err != nil {
			return err
		}
		if err := c.waitBackoff(ctx, delay, aerr); err != nil {
			return err
		}
		if aerr, f = c.attemptVia(ctx, call, n+1); aerr == nil {
			return nil
		}
	}
}

// callDeadline returns ctx bounded by the deadline that Timeout set at the start of a
// call whose context has none, and what releases it. A call's first attempt on an
// open connection, sent within a millisecond of the call's start, needs no such
// context, which would cost allocations: the transport times it out after Timeout on
// its own. A wait before it (Client.late), a dial or a move takes some of the time,
// so from then on the deadline is a context's.
func (c *Client) callDeadline(ctx context.Context, call *Call) (context.Context, context.CancelFunc) {
	if call.deadline.IsZero() {
		return ctx, func() {}
	}
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithDeadline(ctx, call.deadline)
}

// attemptVia runs the nth attempt through the attempt interceptors, when there are any.
func (c *Client) attemptVia(ctx context.Context, call *Call, n int) (*Error, fate) {
	call.attempt, call.peer = n, call.addrs[n]
	if c.attemptChain == nil {
		aerr, f := c.attempt(ctx, call, n)
		call.lastErr = errOrNil(aerr)
		return aerr, f
	}
	call.fate, call.attemptErr = fateFinal, nil
	err := c.attemptChain(ctx, call)
	call.lastErr = err
	if err == nil {
		return nil, fateFinal
	}
	return chainError(call, err)
}

// chainError is the error and fate of an attempt whose interceptors returned err:
// the fate of the innermost attempt when err is the very error it returned, else
// final, as an interceptor's own error ends the call. An error that wraps another
// reaches the caller whole, wrapper included, so that errors.Is and errors.As find
// what the interceptor put in it.
func chainError(call *Call, err error) (*Error, fate) {
	if call.attemptErr != nil && err == error(call.attemptErr) {
		return call.attemptErr, call.fate
	}
	if aerr, ok := err.(*Error); ok {
		return aerr, fateFinal
	}
	return &Error{Code: CodeOf(err), Message: err.Error(), cause: err}, fateFinal
}

// runAttempt is the innermost attempt invoker.
func (c *Client) runAttempt(ctx context.Context, call *Call) error {
	call.attemptErr, call.fate = c.attempt(ctx, call, call.attempt)
	return errOrNil(call.attemptErr)
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
	call.peer = call.addrs[n]
	conn := c.tc.Connected(call.addrs[n])
	// Time passed since send looked (earlier attempts, an attempt interceptor), or a
	// dial will take some: without a context deadline, the transport would give the
	// attempt a fresh Timeout.
	if n > 0 || conn == nil || stale(ctx, call) {
		c.refreshDeadline(ctx, call)
		bound, release := c.callDeadline(ctx, call)
		defer release()
		ctx = bound
	}
	if err := c.unsent(ctx, call); err != nil { // after the bound: the deadline may have passed
		return err, fateFinal
	}
	if conn == nil {
		var err error
		if conn, err = c.dial(ctx, call, n); err != nil {
			return c.failed(ctx, call, err)
		}
	}
	return c.attemptOn(ctx, conn, call, n)
}

// attemptOn sends the call's nth attempt on conn and waits for the outcome.
func (c *Client) attemptOn(ctx context.Context, conn *transport.Conn, call *Call, n int) (*Error, fate) {
	if call.m.Oneway {
		late, err := c.invokeOneway(ctx, conn, call)
		if late != nil {
			return late, fateFinal
		}
		if err != nil {
			return c.failed(ctx, call, err)
		}
		return nil, fateFinal
	}
	actx, limit := ctx, c.attemptLimit(ctx, call, n)
	if limit > 0 {
		var cancel context.CancelFunc
		actx, cancel = context.WithTimeoutCause(ctx, limit, errAttemptTimedOut)
		defer cancel()
	}
	resp, err := conn.InvokeSync(actx, &call.cmd)
	if err != nil {
		if limit > 0 && timedOut(ctx, actx, err) {
			return c.attemptTimedOut(call, limit, err)
		}
		return c.failed(ctx, call, err)
	}
	return c.answered(ctx, call, resp)
}

// minAttemptTimeout is the shortest default attempt timeout applied: a healthy
// provider may need longer than a very tight share of a deadline.
const minAttemptTimeout = 100 * time.Millisecond

// attemptLimit returns how long the nth attempt may wait for its response before the
// call moves on (RetryPolicy.AttemptTimeout), or 0 when it waits for the deadline.
func (c *Client) attemptLimit(ctx context.Context, call *Call, n int) time.Duration {
	if c.attemptTimeout < 0 || n+1 >= len(call.addrs) || !call.retryAfterSend(ctx, c.retry) || !c.budget.allows() {
		return 0
	}
	remaining := c.timeout
	if dl, ok := ctx.Deadline(); ok {
		remaining = time.Until(dl)
	}
	return attemptShare(remaining, c.attemptTimeout)
}

// attemptShare is the attempt timeout for what remains of a deadline: setting when
// positive, else half, and 0 when it would not end before the deadline or, by
// default, when it is under minAttemptTimeout.
func attemptShare(remaining, setting time.Duration) time.Duration {
	limit := setting
	if setting == 0 {
		if limit = remaining / 2; limit < minAttemptTimeout {
			return 0
		}
	}
	if limit <= 0 || limit >= remaining {
		return 0
	}
	return limit
}

// errAttemptTimedOut is the cause of an attempt's context that ended at its share of
// the call's deadline: its cancel notice says the caller cancelled the request, not
// that the deadline the provider was given passed (transport's deadlinePassed).
var errAttemptTimedOut = fmt.Errorf("the attempt's share of the deadline passed: %w", context.DeadlineExceeded)

// timedOut reports whether an attempt ended because its own timeout ran out while
// the call's context still runs.
func timedOut(ctx, actx context.Context, err error) bool {
	return ctx.Err() == nil && actx.Err() != nil && errors.Is(err, context.DeadlineExceeded)
}

// attemptTimedOut reports the provider of an attempt that got no response within
// limit and says so; the call may move, as after a lost connection.
func (c *Client) attemptTimedOut(call *Call, limit time.Duration, err error) (*Error, fate) {
	c.report(call.peer, err)
	return &Error{Code: CodeDeadlineExceeded, Message: fmt.Sprintf("%s: no response within %v, this attempt's share of the deadline (RetryPolicy.AttemptTimeout); the request was cancelled",
		c.target(call, call.peer), limit.Round(time.Millisecond)), cause: err}, fateMaybeRun
}

// invokeOneway queues a oneway call, and waits for its write when an async caller's
// future must say it was written: until the call's deadline at most, as a peer that
// reads nothing holds the request in the queue until WriteTimeout. late is the error
// of a request still queued then; err is the transport's.
func (c *Client) invokeOneway(ctx context.Context, conn *transport.Conn, call *Call) (late *Error, err error) {
	if !call.awaitWrite {
		return nil, conn.InvokeOneway(ctx, &call.cmd)
	}
	written := make(chan error, 1)
	conn.InvokeOnewayAsync(ctx, &call.cmd, func(err error) { written <- err })
	dl := deadlineOf(ctx, call)
	if dl.IsZero() {
		return nil, <-written
	}
	t := time.NewTimer(time.Until(dl))
	defer t.Stop()
	select {
	case err := <-written:
		return nil, err
	case <-t.C:
		return c.notWritten(call), nil
	}
}

// notWritten is the error of a oneway call still queued at its deadline.
func (c *Client) notWritten(call *Call) *Error {
	msg := c.target(call, call.peer) + ": the request was not written by the call's deadline, queued behind what the connection had to write (its peer reads slowly, or not at all); it may still be written, and run, later"
	if !call.deadline.IsZero() {
		msg += c.timeoutNote()
	}
	return &Error{Code: CodeDeadlineExceeded, Message: msg, cause: context.DeadlineExceeded}
}

// connect returns the connection to the call's nth provider, its peer, dialling when
// none is open.
func (c *Client) connect(ctx context.Context, call *Call, n int) (*transport.Conn, error) {
	if conn := c.connected(ctx, call, n); conn != nil {
		return conn, nil
	}
	return c.dial(ctx, call, n)
}

// connected gives the call what remains of the deadline and returns the open
// connection to its nth provider, its peer, or nil when there is none.
func (c *Client) connected(ctx context.Context, call *Call, n int) *transport.Conn {
	if n > 0 || stale(ctx, call) {
		c.refreshDeadline(ctx, call) // what earlier attempts or waits took is gone
	}
	return c.tc.Connected(call.addrs[n])
}

// dial connects to the call's nth provider. A dial gets a share of what remains of
// the deadline, at most ConnectTimeout, so that a provider that never answers the
// connect leaves time for the next.
func (c *Client) dial(ctx context.Context, call *Call, n int) (*transport.Conn, error) {
	addr := call.addrs[n]
	remaining := c.timeout
	if dl, ok := ctx.Deadline(); ok {
		remaining = time.Until(dl)
	}
	budget := min(remaining/time.Duration(len(call.addrs)-n), c.connectTimeout)
	dctx, cancel := context.WithTimeout(ctx, budget)
	defer cancel()
	conn, err := c.tc.Conn(dctx, addr)
	if err == nil {
		c.refreshDeadline(ctx, call) // the dial took some of it
	}
	if err != nil && dctx.Err() != nil {
		if ctx.Err() == nil { // the budget ran out, not the call: say whose
			err = fmt.Errorf("%w: %s did not accept the connection within %v, this attempt's share of the call's deadline (at most transport.ClientOptions.ConnectTimeout, in rpc.ClientOptions.Transport)", transport.ErrConnectFailed, addr, budget.Round(time.Millisecond))
		}
		// The last provider's budget is all the call has left: its dial ends with
		// the call, and is no more the provider's fault for that.
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
	switch err.Code {
	case CodeDeadlineExceeded, CodeCanceled:
		err.Message = c.ctxAnswer(call, err.Code, resp.Remark)
	}
	f := responseFate(resp.Code)
	if f != fateFinal {
		c.report(call.peer, err)
	}
	return err, f
}

// deadlineSlack is how much earlier than the caller a provider may see the call's
// deadline pass: the deadline travels in whole milliseconds, counted from the send.
const deadlineSlack = 5 * time.Millisecond

// ctxAnswer is the message of a call its provider answered deadline_exceeded or
// canceled: the bare context error a handler returned says neither which call nor
// where, nor what to do.
func (c *Client) ctxAnswer(call *Call, code Code, remark string) string {
	msg := c.target(call, call.peer) + ": " + remark
	switch {
	case code == CodeDeadlineExceeded && !call.deadline.IsZero() && time.Until(call.deadline) < deadlineSlack:
		// Not for a deadline the handler met downstream, before the call's. The
		// provider's copy of the deadline, sent in whole milliseconds from the send,
		// passes a little before the call's own.
		msg += c.timeoutNote()
	case code == CodeDeadlineExceeded && strings.HasSuffix(remark, context.DeadlineExceeded.Error()):
		msg += " (the provider's handler met the call's deadline: raise the deadline, or look at the provider's load)"
	case code == CodeCanceled && strings.HasSuffix(remark, context.Canceled.Error()):
		msg += " (the provider's handler saw its context cancelled, as when the provider shuts down before it finished: it may have run in part; look at the provider's logs)"
	}
	return msg
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
	e := fromTransport(err, c.target(call, call.peer))
	if e.Code == CodeDeadlineExceeded && !call.deadline.IsZero() && errors.Is(err, context.DeadlineExceeded) {
		if _, bound := ctx.Deadline(); bound { // by callDeadline; the transport's own timeout says so itself
			e.Message += c.timeoutNote()
		}
	}
	return e, f
}

// unsent returns the error of a call whose context ended, or whose deadline passed,
// before it was sent to its peer, or nil. The peer is not reported: it was sent
// nothing, and the call ends, as no other provider would fare better.
func (c *Client) unsent(ctx context.Context, call *Call) *Error {
	err := ctx.Err()
	if err == nil {
		if dl, ok := ctx.Deadline(); !ok || time.Now().Before(dl) {
			return nil
		}
		err = context.DeadlineExceeded
	}
	what := "call " + call.svc.Name + "." + call.m.Name
	if errors.Is(err, context.Canceled) {
		return &Error{Code: CodeCanceled, Message: what + ": its context was cancelled before it was sent to " + call.peer + ": " + context.Cause(ctx).Error(), cause: err}
	}
	msg := what + ": the call's deadline passed before it was sent to " + call.peer + ", which was not tried"
	if !call.deadline.IsZero() {
		msg += c.timeoutNote()
	} else {
		msg += " (the context's deadline: give the call a longer one)"
	}
	if call.lastErr != nil {
		msg += "; the provider before said: " + call.lastErr.Error()
	}
	return &Error{Code: CodeDeadlineExceeded, Message: msg, cause: err}
}

// timeoutNote tells the caller of a call without a context deadline that Timeout was
// its deadline.
func (c *Client) timeoutNote() string {
	return fmt.Sprintf(" (the call's context had no deadline: rpc.ClientOptions.Timeout, %v, was the whole call's, counted from its start, its waits for an async slot and for the resolver and the time interceptors took included; give the call a context deadline, or raise Timeout)", c.timeout)
}

// move decides, after the nth attempt failed with err, whether the call goes on to
// the next provider and after what wait; it returns the call's error when it does not.
func (c *Client) move(ctx context.Context, call *Call, n int, err *Error, f fate) (time.Duration, error) {
	if ctx.Err() != nil {
		return 0, err
	}
	if !f.mayMove(call.retryAfterSend(ctx, c.retry)) {
		if f == fateMaybeRun && n+1 < len(call.addrs) {
			return 0, mayHaveRun(err)
		}
		return 0, err
	}
	if n+1 >= len(call.addrs) {
		return 0, exhausted(call.addrs[:n+1], err, f)
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

// mayHaveRun is the error of a call that would have moved to the next provider, had
// it been allowed to run twice.
func mayHaveRun(last *Error) *Error {
	return &Error{Code: last.Code, Message: last.Message + " (the provider may have run it; not sent to another provider because it is not idempotent: mark the method //ringrpc:idempotent, or make the call with rpc.WithRetry, if running it twice is harmless)", cause: last.cause}
}

// exhausted is the error of a call that would have moved on, had the ring given it
// another provider: it names those tried, and what to look at.
func exhausted(tried []string, last *Error, f fate) *Error {
	what, they, them := "the only provider this call may go to", "it runs", "it"
	if len(tried) > 1 {
		what = fmt.Sprintf("the last of the %d providers this call may go to (%s)", len(tried), strings.Join(tried, ", "))
		they, them = "they run", "them"
	}
	advice := "check that " + they + " and that this host reaches " + them
	switch f {
	case fateBusy:
		advice = "overloaded: retry later, or add providers"
	case fateLeaving:
		advice = "shutting down: retry once a successor has joined"
	case fateMaybeRun:
		advice = "the connection broke: check the providers' logs and the network"
	}
	return &Error{Code: last.Code, Message: last.Message + " (" + what + "; " + advice + ")", cause: last.cause}
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

// waitBackoff waits d before the call's next attempt, whose last one failed with last,
// and returns the call's error when its context or the client ends first.
func (c *Client) waitBackoff(ctx context.Context, d time.Duration, last *Error) *Error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return backoffCut(ctx.Err(), last)
	case <-c.life.Done():
		return closedError()
	}
}

// retryAfterSend reports whether the call may move after its request left.
func (call *Call) retryAfterSend(ctx context.Context, all bool) bool {
	return all || call.m.Idempotent || ctx.Value(retryKey{}) != nil
}

// FailureNotifier is implemented by resolvers that learn when a provider became
// unreachable (registry.Registry does, from gossip's dead verdicts; a graceful leave
// is not one). A Client whose resolver implements it closes its connections to such
// a provider at once: calls waiting on them fail as after a lost connection, so that
// those that may move do so, and the provider's next call, once it is back, dials
// afresh rather than queue behind what a cut link left unacknowledged.
type FailureNotifier interface {
	// OnProviderFailed calls fn with the RPC address of each provider found
	// unreachable from now on, until stop is called. fn returns quickly.
	OnProviderFailed(fn func(addr string)) (stop func())
}

// errProviderFailed is why connections to a provider found unreachable are closed.
var errProviderFailed = errors.New("the resolver found the provider unreachable (for the registry: gossip declared its node dead)")

// providerFailed closes the connections to a provider the resolver found unreachable.
func (c *Client) providerFailed(addr string) { c.tc.CloseConns(addr, errProviderFailed) }

func (c *Client) report(addr string, err error) {
	if c.reporter != nil {
		c.reporter.ReportFailure(addr, err)
	}
}

func (c *Client) target(call *Call, addr string) string {
	return "call " + call.svc.Name + "." + call.m.Name + " on " + addr
}
