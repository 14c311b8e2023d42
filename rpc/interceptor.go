package rpc

import (
	"context"
	"log/slog"
	"time"
)

// Invoker runs a call: on the client it sends the call and waits for its response, on
// the server it decodes the arguments and runs the implementation.
type Invoker func(ctx context.Context, call *Call) error

// Interceptor wraps an Invoker, like net/http middleware: it can look at the call
// before and after next, change the context, or return an error without calling next.
//
// Interceptors are applied in the order given: the first is the outermost, so it runs
// first before the call and last after it.
//
// Streams go through the same interceptors, for their whole life; the IsStream of
// Call.Desc tells them from unary calls. On the server they wrap the stream method's
// handler. On the client they wrap each range over a server or bidirectional
// stream's iterator, and each call of a client-stream method: next opens the stream
// with the context it is given (metadata added to it travels in the opening
// request), runs it, and returns once it ended, with its outcome: nil when it ended
// cleanly or the caller stopped ranging, else the error the caller is given. An
// error the interceptor returns instead is the caller's, as the range's last value
// or the method's error; one it returns without calling next opens no stream. The
// caller's loop body runs inside next, on the interceptor's goroutine: an
// interceptor must call next on that goroutine and return after it, hold no lock
// across it, and know that calling next again opens the stream again: for a client
// or bidirectional stream it ranges the caller's input again, while the first range
// may still wait in it, so an input that cannot be ranged twice at once (a channel,
// a stateful sequence) must not meet an interceptor that calls next twice. Attempt
// interceptors (ClientOptions.AttemptInterceptors) wrap each opening on one
// provider, until the provider took the stream or refused it.
type Interceptor func(next Invoker) Invoker

// chain wraps inner with the interceptors, the first outermost.
func chain(interceptors []Interceptor, inner Invoker) Invoker {
	for i := len(interceptors) - 1; i >= 0; i-- {
		inner = interceptors[i](inner)
	}
	return inner
}

// LoggingInterceptor logs every call with its service, method, peer, duration and
// outcome: failures at level Warn, successes at Debug.
func LoggingInterceptor(logger *slog.Logger) Interceptor {
	return func(next Invoker) Invoker {
		return func(ctx context.Context, call *Call) error {
			start := time.Now()
			err := next(ctx, call)
			level := slog.LevelDebug
			if err != nil {
				level = slog.LevelWarn
			}
			if logger.Enabled(ctx, level) {
				attrs := []slog.Attr{
					slog.String("side", call.Side()),
					slog.String("service", call.Service()),
					slog.String("method", call.Method()),
					slog.String("peer", call.Peer()),
					slog.Duration("duration", time.Since(start)),
					slog.String("code", CodeOf(err).String()),
				}
				if err != nil {
					attrs = append(attrs, slog.String("err", err.Error()))
				}
				logger.LogAttrs(ctx, level, "rpc call", attrs...)
			}
			return err
		}
	}
}
