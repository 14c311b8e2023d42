package rpc

import (
	"fmt"

	"github.com/ringrpc/ringrpc/transport"
)

// SupportPackageIsVersion1 is referenced by generated code, so that code generated for
// another version of this package fails to compile rather than misbehave.
const SupportPackageIsVersion1 = true

// RequestCode is the RocketMQ request code of every RPC call.
const RequestCode int32 = 0

// Header keys of an RPC request's extFields.
const (
	HeaderInterface = "interfaceName"
	HeaderMethod    = "methodName"
	// HeaderTimeout carries the caller's remaining deadline in milliseconds.
	HeaderTimeout = "ringrpc.timeout"
	// MetadataPrefix prefixes the extFields that carry metadata, in both directions.
	MetadataPrefix = "ringrpc.md."
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

// toWire and fromWire are the one place where rpc codes meet RocketMQ response codes.
func toWire(c Code) int32 {
	switch c {
	case CodeOK:
		return transport.CodeSuccess
	case CodeInternal:
		return transport.CodeSystemError
	case CodeBusy:
		return transport.CodeSystemBusy
	}
	return wireBase + int32(c)
}

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
