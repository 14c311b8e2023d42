package transport

import (
	"context"
	"errors"
	"fmt"
	"time"
)

var (
	// ErrClosed reports a call on, or pending in, a Client, Server or Conn that was
	// closed by its owner.
	ErrClosed = errors.New("transport: closed")
	// ErrConnectionLost reports a call whose connection failed before its response
	// arrived: the peer closed it, a read or write failed, or a frame was malformed.
	ErrConnectionLost = errors.New("transport: connection lost")
	// ErrConnectFailed reports a call that never left: no connection to the peer could
	// be made. Sending it to another peer is always safe.
	ErrConnectFailed = errors.New("transport: connect failed")
	// ErrGoingAway reports a call that was not sent because the peer said it is
	// going away (a going-away notice, or a GO_AWAY answer): send it on another
	// connection. It wraps ErrConnectFailed.
	ErrGoingAway = fmt.Errorf("%w: the peer is going away", ErrConnectFailed)
	// ErrTimeout reports a call that reached its deadline without a response. Errors
	// that wrap it also match context.DeadlineExceeded.
	ErrTimeout = errors.New("transport: timeout")
	// ErrTooManyRequests reports a call that could not get a permit before its
	// deadline because too many sync, async or oneway calls were in flight.
	ErrTooManyRequests = errors.New("transport: too many requests")
	// ErrRegistered reports a processor registered twice, or after serving began.
	ErrRegistered = errors.New("transport: processor registration")

	// errNoFrameMemory closes a connection whose next body found no room in
	// MaxFrameMemory in time.
	errNoFrameMemory = errors.New("transport: no frame memory")
)

// timeoutError is a call's deadline error: it matches ErrTimeout and
// context.DeadlineExceeded, and says which call and how long it waited.
type timeoutError struct {
	what    string
	addr    string
	waited  time.Duration
	opaque  int32
	hasOpaq bool
	limit   bool // waited is Options.Timeout, which the call had no deadline to override
}

func (e *timeoutError) Error() string {
	if e.limit {
		return fmt.Sprintf("transport: %s to %s got no response within %v (opaque %d, the client's timeout): give the call a context deadline or raise rpc.ClientOptions.Timeout (transport.ConnOptions.Timeout for a transport client), or check the peer's load", e.what, e.addr, e.waited, e.opaque)
	}
	if e.hasOpaq {
		return fmt.Sprintf("transport: %s to %s timed out after %v (opaque %d): raise the deadline or check the peer's load", e.what, e.addr, e.waited.Round(time.Millisecond), e.opaque)
	}
	return fmt.Sprintf("transport: %s to %s timed out after %v: raise the deadline or check the peer's load", e.what, e.addr, e.waited.Round(time.Millisecond))
}

func (e *timeoutError) Is(target error) bool {
	return target == ErrTimeout || target == context.DeadlineExceeded
}

// Timeout reports true, as net.Error timeouts do.
func (e *timeoutError) Timeout() bool { return true }

// ctxError turns the end of a caller's context into the error of its call.
func ctxError(ctx context.Context, what, addr string, start time.Duration) error {
	if err := ctx.Err(); err == nil || errors.Is(err, context.DeadlineExceeded) {
		return &timeoutError{what: what, addr: addr, waited: sinceBase() - start}
	}
	return fmt.Errorf("transport: %s to %s: %w", what, addr, context.Cause(ctx))
}
