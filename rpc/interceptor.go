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
