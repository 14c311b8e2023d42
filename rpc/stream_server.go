package rpc

import (
	"context"
	"errors"
	"iter"
	"sync/atomic"
	"time"

	"github.com/ringrpc/ringrpc/transport"
)

// serverStream is the provider's side of a stream, found by the handler through its
// context.
type serverStream struct {
	st      *transport.Stream
	svc     *ServiceDesc
	m       *MethodDesc
	enc     Encoder               // the messages', each in turn
	inErr   atomic.Pointer[Error] // a message that did not decode
	expired atomic.Pointer[Error] // the deadline passed and ended the stream
}

type streamKey struct{}

func serverStreamOf(ctx context.Context) *serverStream {
	ss, _ := ctx.Value(streamKey{}).(*serverStream)
	return ss
}

// IsStream reports whether the method streams in either direction.
func (m *MethodDesc) IsStream() bool { return m.ClientStream != "" || m.ServerStream != "" }

// streamContext gives a stream method's handler the stream req opened, or returns an
// error for a request that opened none.
func streamContext(ctx context.Context, conn *transport.Conn, req *transport.Command, svc *ServiceDesc, m *MethodDesc) (context.Context, *serverStream, error) {
	st := conn.InboundStream(req)
	if st == nil {
		return ctx, nil, Errorf(CodeBadArguments, "%s.%s is a stream method: its caller must open a stream (docs/PROTOCOL.md, \"Streams\"), not send a unary call", svc.Name, m.Name)
	}
	ss := &serverStream{st: st, svc: svc, m: m}
	return context.WithValue(ctx, streamKey{}, ss), ss, nil
}

// result is the handler's outcome, unless a message it received did not decode, its
// opener broke the stream protocol, the deadline passed, or the stream was cut
// short: what the handler made of a cut stream is not its caller's answer. The one
// that came first answers: the transport's stream ends once, with the break or with
// the deadline, and keeps why, and a message that did not decode came before either.
// ctx is the handler's: its deadline may pass as the handler returns, before the
// stream's own timer ends the stream, and still answers deadline_exceeded.
func (ss *serverStream) result(ctx context.Context, err error) error {
	if e := ss.inErr.Load(); e != nil {
		return e
	}
	if e := protocolBreak(ss.svc, ss.m, ss.st); e != nil {
		return e
	}
	if e := ss.expired.Load(); e != nil {
		return e
	}
	if e := ss.st.Err(); e != nil {
		// Cut short, whatever the handler then returned: its opener reset it (when
		// its deadline passed, with the expired bit), or its connection went, and
		// no answer reaches the opener.
		code := CodeUnavailable
		switch {
		case errors.Is(e, context.DeadlineExceeded):
			code = CodeDeadlineExceeded
		case errors.Is(e, context.Canceled):
			code = CodeCanceled
		}
		return Errorf(code, "stream %s.%s was cut short before its handler returned: %v", ss.svc.Name, ss.m.Name, e)
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return ss.deadlineError()
	}
	return err
}

// protocolBreak returns the answer to st, a stream of svc's method m, when the
// transport ended it because its opener broke the protocol (docs/PROTOCOL.md,
// "Stream frames"), or nil.
func protocolBreak(svc *ServiceDesc, m *MethodDesc, st *transport.Stream) *Error {
	err := st.Err()
	// A connection closed for a frame that did not parse fails its streams with an
	// error that wraps ErrMalformedFrame too: that is the connection's loss, which
	// no answer reaches, not this stream's break.
	if !errors.Is(err, transport.ErrMalformedFrame) || errors.Is(err, transport.ErrConnectionLost) || errors.Is(err, transport.ErrClosed) {
		return nil
	}
	return Errorf(CodeBadArguments, "stream %s.%s: its opener broke the stream protocol (%w), so the provider ended the stream as if it were reset, and this is its answer whatever its handler returned: an opener numbers its messages from 1 without gaps, sends none beyond the credit granted or after its end, puts exactly ringrpc.count messages in a frame, and grants at most 1 048 576 messages ahead (docs/PROTOCOL.md, \"Stream frames\")", svc.Name, m.Name, err)
}

// expire ends the stream once ctx, the handler's context, ended because its deadline
// passed. The handler may wait in Send for credit or in Recv for a message, where
// its context does not reach: ending the stream wakes it with the deadline's error.
// A context that ended otherwise ended with the stream, which needs nothing more.
func (ss *serverStream) expire(ctx context.Context) {
	if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return
	}
	e := ss.deadlineError()
	ss.expired.Store(e)
	ss.st.CloseWithError(e)
}

// SendAll sends the values seq yields on the stream of the handler's call, in order,
// each once the caller has room for it, and returns the first error seq yields, or
// nil once it ends. It stops ranging over seq when the stream ends first: the caller
// stopped, its context ended, or the connection failed. Generated dispatchers call
// it with a stream method's iterator.
func SendAll[T any](ctx context.Context, seq iter.Seq2[T, error], encode func(*Encoder, T)) error {
	ss := serverStreamOf(ctx)
	if ss == nil {
		return Errorf(CodeInternal, "rpc.SendAll called outside a stream method's handler")
	}
	n := 0
	for v, err := range seq {
		if err != nil {
			return err
		}
		n++
		body, e := encodeMessage(ss.svc, ss.m, &ss.enc, n, CodeInternal, encode, v)
		if e != nil {
			return e
		}
		if err := ss.st.Send(body); err != nil {
			return fromTransport(err, "stream "+ss.svc.Name+"."+ss.m.Name)
		}
	}
	return nil
}

// Received returns the iterator of the messages the caller sends on the stream of
// the handler's call. It ends when the caller ends its stream, or when the stream
// fails: the caller stopped, its context ended, or the connection failed (the
// handler's context then says so). A message that does not decode ends it too, and
// the call then fails with CodeBadArguments whatever the handler returns, as it does
// when the caller broke the stream protocol. Generated dispatchers call it.
func Received[T any](ctx context.Context, decode func(*Decoder) (T, error)) iter.Seq[T] {
	ss := serverStreamOf(ctx)
	return func(yield func(T) bool) {
		if ss == nil {
			return
		}
		var d Decoder
		for n := 1; ; n++ {
			body, err := ss.st.Recv()
			if err != nil {
				return
			}
			v, bad := decodeMessage(ss.svc, ss.m, &d, body, n, false, CodeBadArguments, decode)
			if bad != nil {
				ss.inErr.CompareAndSwap(nil, bad)
				return
			}
			if !yield(v) {
				return
			}
		}
	}
}

// invokeStream runs a stream method's handler with the stream in its context. A
// stream with a deadline ends when it passes, wherever its handler waits.
func (s *Server) invokeStream(cctx *callCtx, conn *transport.Conn, req *transport.Command, call *Call) error {
	ctx, ss, err := streamContext(cctx, conn, req, call.svc, call.m)
	if err != nil {
		return err
	}
	if d, ok := cctx.Deadline(); ok {
		// A timer of its own: watching the context would make it build the standard
		// context it saves most handlers, at some twenty allocations per stream.
		t := time.AfterFunc(time.Until(d), func() { ss.expire(cctx) })
		defer t.Stop()
	}
	return s.invoke(ctx, call) // Server.call gives the stream's result
}

// deadlineError is the answer to a stream that ran past its deadline.
func (ss *serverStream) deadlineError() *Error {
	return Errorf(CodeDeadlineExceeded, "stream %s.%s ran past its deadline (%w): the caller's deadline, counted from the arrival of the stream's opening request, passed before the stream ended: give the call a longer deadline", ss.svc.Name, ss.m.Name, context.DeadlineExceeded)
}
