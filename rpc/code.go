package rpc

import (
	"errors"
	"fmt"

	"github.com/ringrpc/ringrpc/transport"
)

// SupportPackageIsVersion1 is referenced by generated code, so that code generated for
// another version of this package fails to compile rather than misbehave.
const SupportPackageIsVersion1 = true

// RequestCode is the RocketMQ request code of every RPC call.
const RequestCode int32 = 0

// Header keys of an RPC request's extFields (docs/PROTOCOL.md §8): the service and
// the method, for tools that build requests themselves.
const (
	HeaderInterface = "interfaceName"
	HeaderMethod    = "methodName"
)

// The other extFields of a call.
const (
	// headerTimeout carries the caller's remaining deadline in milliseconds.
	headerTimeout = "ringrpc.timeout"
	// metadataPrefix prefixes the extFields that carry metadata, in both directions.
	metadataPrefix = "ringrpc.md."
)

// Code classifies an error. Codes 1 to 16 mean what gRPC's codes of the same number
// mean; 17 and up are ringrpc's own.
type Code uint32

// The codes. CodeOK is no error.
const (
	CodeOK                 Code = 0
	CodeCanceled           Code = 1
	CodeUnknown            Code = 2
	CodeBadArguments       Code = 3 // gRPC's INVALID_ARGUMENT
	CodeDeadlineExceeded   Code = 4
	CodeNotFound           Code = 5
	CodeAlreadyExists      Code = 6
	CodePermissionDenied   Code = 7
	CodeBusy               Code = 8 // gRPC's RESOURCE_EXHAUSTED
	CodeFailedPrecondition Code = 9
	CodeAborted            Code = 10
	CodeOutOfRange         Code = 11
	CodeUnimplemented      Code = 12
	CodeInternal           Code = 13
	CodeUnavailable        Code = 14
	CodeDataLoss           Code = 15
	CodeUnauthenticated    Code = 16
	CodeServiceNotFound    Code = 17
	CodeMethodNotFound     Code = 18
	CodeClosed             Code = 19
	maxCode                     = CodeClosed
)

var codeNames = [...]string{
	"ok", "canceled", "unknown", "bad_arguments", "deadline_exceeded", "not_found",
	"already_exists", "permission_denied", "busy", "failed_precondition", "aborted",
	"out_of_range", "unimplemented", "internal", "unavailable", "data_loss",
	"unauthenticated", "service_not_found", "method_not_found", "closed",
}

// String returns the code's snake_case name, or Code(n) for an unknown code.
func (c Code) String() string {
	if c <= maxCode {
		return codeNames[c]
	}
	return fmt.Sprintf("Code(%d)", uint32(c))
}

// wireBase offsets ringrpc's codes on the wire, clear of RocketMQ's response codes.
const wireBase = 700

// This file is the one place where rpc codes meet RocketMQ response codes, and where a
// failed attempt's outcome decides whether the call may move to another provider.
//
// Only the remoting layer's own refusals prove that a provider did not run a call:
// SYSTEM_BUSY (2, its queue was full) and GO_AWAY (1500, it is shutting down). A
// handler's own busy or unavailable error travels as 700+n like every other code, so
// that a caller never mistakes "ran and said busy" for "never ran".

// toWire returns the response code that carries c.
func toWire(c Code) int32 {
	switch c {
	case CodeOK:
		return transport.CodeSuccess
	case CodeInternal:
		return transport.CodeSystemError
	}
	return wireBase + int32(c)
}

// fromWire returns the code a response code stands for.
func fromWire(w int32) Code {
	switch w {
	case transport.CodeSuccess:
		return CodeOK
	case transport.CodeSystemError:
		return CodeInternal
	case transport.CodeSystemBusy:
		return CodeBusy
	case transport.CodeRequestCodeNotSupported:
		return CodeUnimplemented
	case transport.CodeGoAway:
		return CodeUnavailable
	}
	if c := w - wireBase; c > 0 && Code(c) <= maxCode {
		return Code(c)
	}
	return CodeUnknown
}

// fate is what a failed attempt proves about its call, which decides whether the call
// may be sent to the next provider.
type fate uint8

const (
	// fateFinal: the provider answered (an application error, bad arguments...), or
	// the call cannot go on (deadline, the caller's cancellation, a closed client, no
	// permit): the call ends with this error.
	fateFinal fate = iota
	// fateNotSent: no connection could be made; nothing left this process.
	fateNotSent
	// fateBusy: the provider's remoting layer refused the request before running it:
	// its queue was full (SYSTEM_BUSY).
	fateBusy
	// fateLeaving: the provider is shutting down and did not run the request (GO_AWAY).
	fateLeaving
	// fateMaybeRun: the request left but the connection failed before the response:
	// the provider may have run it.
	fateMaybeRun
)

// responseFate classifies a response with a non-zero code.
func responseFate(w int32) fate {
	switch w {
	case transport.CodeSystemBusy:
		return fateBusy
	case transport.CodeGoAway:
		return fateLeaving
	}
	return fateFinal
}

// transportFate classifies a transport error of an attempt.
func transportFate(err error) fate {
	switch {
	case errors.Is(err, transport.ErrGoingAway):
		return fateLeaving // as a GO_AWAY answer: not sent, and the provider is leaving
	case errors.Is(err, transport.ErrConnectFailed):
		return fateNotSent
	case errors.Is(err, transport.ErrConnectionLost):
		return fateMaybeRun
	}
	return fateFinal
}

// mayMove reports whether a call whose attempt ended with f may be sent to the next
// provider; afterSend allows it for calls the provider may have run (idempotent
// methods, WithRetry, ClientOptions.RetryAfterSend).
func (f fate) mayMove(afterSend bool) bool {
	return f == fateNotSent || f == fateBusy || f == fateLeaving || f == fateMaybeRun && afterSend
}

// costsBudget reports whether moving after f spends the retry budget: only failures
// that cost a provider work do. A provider that was never reached, or that is leaving,
// did none, and a rolling restart must not use the budget up.
func (f fate) costsBudget() bool { return f == fateBusy || f == fateMaybeRun }
