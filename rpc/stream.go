package rpc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"strconv"

	"github.com/ringrpc/ringrpc/transport"
)

// Streams are methods whose results, or one of whose parameters, are Go iterators
// (docs/GENERATOR.md, "Streams"; docs/PROTOCOL.md, "Streams"). A stream is one
// opening request, which carries the other arguments as a unary call's, then
// messages in both directions under credit-based flow control, then the provider's
// response, which ends it. The functions below are what generated code calls.

// streamCall is what a stream method's call keeps between the ranges of the iterator
// it returns: each range opens the stream anew.
type streamCall struct {
	c    *Client
	svc  *ServiceDesc
	m    *MethodDesc
	body []byte
	key  string
	err  error // the arguments did not encode
}

// newStreamCall takes the encoded arguments of call, which it recycles.
func (c *Client) newStreamCall(ctx context.Context, call *Call) *streamCall {
	body, err := call.Args.finish()
	sc := &streamCall{c: c, svc: call.svc, m: call.m, body: bytes.Clone(body), key: call.RouteKey(ctx)}
	if err != nil {
		sc.err = Errorf(CodeBadArguments, "encoding the arguments of %s.%s: %w", call.svc.Name, call.m.Name, err)
	}
	putCall(call)
	return sc
}

// call returns the Call one range of the stream runs as: what its interceptors see.
func (sc *streamCall) call() *Call {
	call := &Call{svc: sc.svc, m: sc.m, routeKey: sc.key, hasKey: true}
	call.Args.w.buf = sc.body // for Call.RawArgs
	return call
}

// run runs one range of the stream, life, through the client's interceptors, as a
// unary call's send runs through them: life opens the stream and returns its
// outcome once it ended.
func (sc *streamCall) run(ctx context.Context, life Invoker) error {
	call := sc.call()
	call.life = life
	return sc.c.streamInvoke(ctx, call)
}

// runLife is the innermost invoker of a stream's range: its life.
func runLife(ctx context.Context, call *Call) error { return call.life(ctx, call) }

// open opens the stream on the first provider that takes it. A stream moves to the
// next provider only as a unary call would, and only before its first message: when
// no connection could be made, or the provider refused it (SYSTEM_BUSY, GO_AWAY)
// before it ran, which is before any message could flow.
func (sc *streamCall) open(ctx context.Context, call *Call) (*transport.Stream, error) {
	c := sc.c
	if sc.err != nil {
		return nil, sc.err
	}
	if c.isClosed() {
		return nil, closedError()
	}
	// A context without a deadline sends none: a stream lasts as long as its caller
	// wants.
	if err := writeRequest(ctx, call, sc.body, "", "stream"); err != nil {
		return nil, err
	}
	if err := c.resolve(ctx, call); err != nil {
		return nil, err
	}
	for n := 0; ; n++ {
		st, aerr, f := c.openVia(ctx, call, n)
		if aerr == nil {
			c.budget.succeeded() // as a unary call's success: the stream's moves took tokens
			return st, nil
		}
		delay, err := c.move(ctx, call, n, aerr, f)
		if err != nil {
			return nil, err
		}
		if err := c.waitBackoff(ctx, delay, aerr); err != nil {
			return nil, err
		}
	}
}

// openVia opens the stream on the call's nth provider through the attempt
// interceptors, when there are any, as attemptVia sends a unary call.
func (c *Client) openVia(ctx context.Context, call *Call, n int) (*transport.Stream, *Error, fate) {
	call.attempt, call.peer = n, call.addrs[n]
	if c.streamAttempt == nil {
		st, aerr, f := c.openOn(ctx, call, n)
		call.lastErr = errOrNil(aerr)
		return st, aerr, f
	}
	call.fate, call.attemptErr = fateFinal, nil
	err := c.streamAttempt(ctx, call)
	st := call.opened
	call.opened = nil
	call.lastErr = err
	if err == nil && st == nil {
		err = Errorf(CodeInternal, "stream %s.%s: an attempt interceptor returned no error without calling next, which opens the stream", call.svc.Name, call.m.Name)
	}
	if err == nil {
		return st, nil, fateFinal
	}
	if st != nil {
		st.Close() // opened, and then failed by an interceptor
	}
	aerr, f := chainError(call, err)
	return nil, aerr, f
}

// openAttempt is the innermost attempt invoker of a stream: it opens the stream on
// the call's provider of this attempt, into call.opened.
func (c *Client) openAttempt(ctx context.Context, call *Call) error {
	if call.opened != nil {
		call.opened.Close() // an interceptor tries again
	}
	call.opened, call.attemptErr, call.fate = c.openOn(ctx, call, call.attempt)
	return errOrNil(call.attemptErr)
}

// openOn opens the stream on the call's nth provider, and waits until the provider
// takes it or refuses it.
func (c *Client) openOn(ctx context.Context, call *Call, n int) (*transport.Stream, *Error, fate) {
	call.attempt = n
	conn, err := c.connect(ctx, call, n)
	if err != nil {
		e, f := c.failed(ctx, call, err)
		return nil, e, f
	}
	st, err := conn.OpenStream(ctx, &call.cmd)
	if err != nil {
		e, f := c.failed(ctx, call, err)
		return nil, e, f
	}
	<-st.Ready()
	if st.Accepted() {
		return st, nil, fateFinal // what comes now is the stream's, refusals included
	}
	if resp := st.Response(); resp != nil && resp.Code != transport.CodeSuccess {
		e, f := c.answered(ctx, call, resp)
		return nil, e, f
	}
	if err := st.Err(); err != nil {
		e, f := c.failed(ctx, call, err)
		return nil, e, f
	}
	return st, nil, fateFinal
}

// target names the stream in errors.
func (sc *streamCall) target(st *transport.Stream) string {
	return "stream " + sc.svc.Name + "." + sc.m.Name + " " + strconv.FormatInt(int64(st.ID()), 10)
}

// endError returns the error the end of a stream gives its caller, nil for a clean
// end: err is what Recv returned.
func (sc *streamCall) endError(st *transport.Stream, err error) *Error {
	if err == io.EOF {
		resp := st.Response()
		if resp == nil || resp.Code == transport.CodeSuccess {
			return nil
		}
		return &Error{Code: fromWire(resp.Code), Message: resp.Remark}
	}
	var e *Error
	if errors.As(err, &e) {
		return e // the caller's own, given to CloseWithError
	}
	return fromTransport(err, sc.target(st))
}

// decodeMessage decodes body, the nth message of a stream of svc's method m: the
// provider's (result) or the caller's. A message that does not decode is an error of
// code.
// d is the stream's, used again for each message: a decoder a function value reads
// lives on the heap.
func decodeMessage[T any](svc *ServiceDesc, m *MethodDesc, d *Decoder, body []byte, n int, result bool, code Code, decode func(*Decoder) (T, error)) (T, *Error) {
	*d = Decoder{}
	d.start(body, false)
	d.result, d.message, d.m = result, true, m
	v, err := decode(d)
	if err != nil {
		return v, Errorf(code, "message %d of stream %s.%s: %v", n, svc.Name, m.Name, errorMessage(err))
	}
	return v, nil
}

// encodeMessage encodes v, the nth message of a stream of svc's method m, with e,
// the stream's, whose memory serves each message in turn (an encoder a function value
// writes lives on the heap). A message that does not encode is an error of code.
func encodeMessage[T any](svc *ServiceDesc, m *MethodDesc, e *Encoder, n int, code Code, encode func(*Encoder, T), v T) ([]byte, *Error) {
	e.reset(e.w.buf[:0], false)
	encode(e, v)
	body, err := e.finish()
	if err != nil {
		return nil, Errorf(code, "encoding message %d of stream %s.%s: %v", n, svc.Name, m.Name, err)
	}
	return body, nil
}

// receiveAll yields the messages of st until it ends, the caller stops, which it
// notes in stopped, or a message does not decode; it returns the stream's error, if
// any, for the caller to be given last. The provider's response, which ends the
// stream, carries its reply metadata for ctx's WithReplyMetadata.
func receiveAll[T any](ctx context.Context, sc *streamCall, st *transport.Stream, decode func(*Decoder) (T, error), yield func(T, error) bool, stopped *bool) error {
	var d Decoder
	done := ctx.Done()
	for n := 1; ; n++ {
		select {
		case <-done:
			// The caller's context ended: the messages that had arrived are not
			// given. The stream's watch of its context ends it; one an interceptor
			// opened on a context of its own is ended here.
			cause := fmt.Errorf("the caller's context ended: %w", ctx.Err())
			st.CloseWithError(cause)
			err := st.Err()
			if err == nil { // it had ended before
				err = cause
			}
			return errOrNil(sc.endError(st, err))
		default:
		}
		body, err := st.Recv()
		if err != nil {
			if resp := st.Response(); resp != nil {
				sc.c.replyMetadata(ctx, resp)
			}
			return errOrNil(sc.endError(st, err))
		}
		v, bad := decodeMessage(sc.svc, sc.m, &d, body, n, true, CodeInternal, decode)
		if bad != nil {
			st.CloseWithError(bad)
			return bad
		}
		if !yield(v, nil) {
			*stopped = true
			return nil
		}
	}
}

// endInput tells the provider that the caller's input ended, unless the caller's
// context or the stream's ended: an input that stopped there may have stopped for
// that, and is no whole input. The stream's context need not be the caller's (an
// attempt interceptor may open it on one of its own), nor end at the same instant.
func endInput(st *transport.Stream, caller, stream context.Context) {
	for _, ctx := range [...]context.Context{caller, stream} {
		if err := ctx.Err(); err != nil {
			st.CloseWithError(fmt.Errorf("the caller's context ended before its input did: %w", err))
			return
		}
	}
	st.CloseSend()
}

// sendAll sends the values of in on st until in ends or st does; it returns an error
// only for a value that does not encode or that no frame can carry, which the
// stream outlives: its input would go on without that value.
func sendAll[T any](sc *streamCall, st *transport.Stream, in iter.Seq[T], encode func(*Encoder, T)) *Error {
	var e Encoder
	n := 0
	for v := range in {
		n++
		body, err := encodeMessage(sc.svc, sc.m, &e, n, CodeBadArguments, encode, v)
		if err != nil {
			return err
		}
		if err := st.Send(body); err != nil {
			if errors.Is(err, transport.ErrFrameTooLarge) {
				return fromTransport(err, fmt.Sprintf("message %d of stream %s.%s", n, sc.svc.Name, sc.m.Name))
			}
			return nil // the stream ended: how is for the receiving side to say
		}
	}
	return nil
}

// ServerStream returns the iterator of a server-stream method's messages: ranging
// over it opens the stream, and each range opens it anew. The range ends when the
// provider's iterator ends (its error, if any, comes last), when the caller stops
// ranging, which cancels the provider's side, when ctx ends, or when the connection
// fails. The client's interceptors wrap each range. Generated code calls it; call
// has its arguments.
func ServerStream[T any](c *Client, ctx context.Context, call *Call, decode func(*Decoder) (T, error)) iter.Seq2[T, error] {
	sc := c.newStreamCall(ctx, call)
	return func(yield func(T, error) bool) {
		stopped := false
		err := sc.run(ctx, func(ctx context.Context, call *Call) error {
			if stopped {
				return nil // an interceptor tries again after the caller stopped
			}
			st, err := sc.open(ctx, call)
			if err != nil {
				return err
			}
			defer st.Close()
			return receiveAll(ctx, sc, st, decode, yield, &stopped)
		})
		if err != nil && !stopped {
			var zero T
			yield(zero, err)
		}
	}
}

// ClientStream opens a client-stream method's stream, sends it the values of in,
// and returns a Decoder over the provider's results once it answered. It stops
// taking values from in when the provider answers first. The client's interceptors
// wrap the whole stream. Generated code calls it.
func ClientStream[T any](c *Client, ctx context.Context, call *Call, in iter.Seq[T], encode func(*Encoder, T)) (Decoder, error) {
	sc := c.newStreamCall(ctx, call)
	outer := ctx
	var resp *transport.Command
	err := sc.run(ctx, func(ctx context.Context, call *Call) error {
		st, err := sc.open(ctx, call)
		if err != nil {
			return err
		}
		defer st.Close()
		if e := sendAll(sc, st, in, encode); e != nil {
			st.CloseWithError(e)
			return e
		}
		endInput(st, outer, ctx)
		for {
			if _, err = st.Recv(); err != nil {
				break // a provider's messages on a client stream are not looked at
			}
		}
		if e := sc.endError(st, err); e != nil {
			return e
		}
		resp = st.Response()
		c.replyMetadata(ctx, resp)
		return nil
	})
	if err != nil {
		return Decoder{}, err
	}
	if resp == nil {
		return Decoder{}, Errorf(CodeInternal, "stream %s.%s: an interceptor returned no error without calling next, and there are no results to give", sc.svc.Name, sc.m.Name)
	}
	d := newDecoder(resp.Body, sc.m.resultsArray())
	d.result, d.m = true, sc.m
	return d, nil
}

// BidiStream returns the iterator of a bidirectional method's messages: ranging over
// it opens the stream, sends it the values of in from a goroutine of the client's
// while the range receives, and ends as ServerStream's does. The goroutine takes the
// next value of in only while the stream runs: once it ended, in's yield returns
// false. An in that blocks should end when ctx ends: Client.Close waits for it. The
// client's interceptors wrap each range. Generated code calls it.
func BidiStream[In, Out any](c *Client, ctx context.Context, call *Call, in iter.Seq[In], encode func(*Encoder, In), decode func(*Decoder) (Out, error)) iter.Seq2[Out, error] {
	sc := c.newStreamCall(ctx, call)
	outer := ctx
	return func(yield func(Out, error) bool) {
		stopped := false
		err := sc.run(ctx, func(ctx context.Context, call *Call) error {
			if stopped {
				return nil // an interceptor tries again after the caller stopped
			}
			st, err := sc.open(ctx, call)
			if err != nil {
				return err
			}
			defer st.Close()
			started := c.run.run(func() {
				if e := sendAll(sc, st, in, encode); e != nil {
					st.CloseWithError(e)
					return
				}
				endInput(st, outer, ctx)
			})
			if !started {
				return closedError()
			}
			return receiveAll(ctx, sc, st, decode, yield, &stopped)
		})
		if err != nil && !stopped {
			var zero Out
			yield(zero, err)
		}
	}
}
