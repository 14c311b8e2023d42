package rpc

import (
	"context"
	"errors"
	"fmt"

	"github.com/ringrpc/ringrpc/transport"
)

// Error is an error with a Code. Errors that cross the wire arrive as *Error with the
// provider's code and message.
type Error struct {
	Code    Code
	Message string
	cause   error
}

// Sentinels for errors.Is: an *Error matches the sentinel of its code. They are
// values of an unexported type, so no one can change what they match.
var (
	ErrServiceNotFound  error = sentinel(CodeServiceNotFound)
	ErrMethodNotFound   error = sentinel(CodeMethodNotFound)
	ErrBadArguments     error = sentinel(CodeBadArguments)
	ErrDeadlineExceeded error = sentinel(CodeDeadlineExceeded)
	ErrBusy             error = sentinel(CodeBusy)
	ErrUnavailable      error = sentinel(CodeUnavailable)
	ErrClosed           error = sentinel(CodeClosed)
	ErrCanceled         error = sentinel(CodeCanceled)
	ErrInternal         error = sentinel(CodeInternal)
)

// sentinel is the error every *Error of its code matches.
type sentinel Code

func (s sentinel) Error() string { return "rpc: " + Code(s).String() }

// NewError returns an error with code and message; providers return it to choose the
// code their caller sees. A code that is CodeOK or none of the codes above reaches
// the caller as CodeUnknown.
func NewError(code Code, message string) *Error {
	return &Error{Code: code, Message: message}
}

// Errorf returns an error with code and a formatted message; %w wraps a cause that
// errors.Is and errors.As see on this side of the wire.
func Errorf(code Code, format string, args ...any) *Error {
	err := fmt.Errorf(format, args...)
	return &Error{Code: code, Message: err.Error(), cause: errors.Unwrap(err)}
}

func (e *Error) Error() string {
	if e.Message == "" {
		return "rpc: " + e.Code.String()
	}
	return "rpc: " + e.Code.String() + ": " + e.Message
}

// Unwrap returns the local cause, if any.
func (e *Error) Unwrap() error { return e.cause }

// Is matches the sentinel of e's code (ErrBusy for CodeBusy, say), an *Error of the
// same code without a message, and context.DeadlineExceeded and context.Canceled for
// those codes.
func (e *Error) Is(target error) bool {
	switch t := target.(type) {
	case sentinel:
		return Code(t) == e.Code
	case *Error:
		return t.Message == "" && t.cause == nil && t.Code == e.Code
	}
	switch target {
	case context.DeadlineExceeded:
		return e.Code == CodeDeadlineExceeded
	case context.Canceled:
		return e.Code == CodeCanceled
	}
	return false
}

// CodeOf returns err's code: CodeOK for nil, the code of an *Error in its chain, the
// matching code for context errors, and CodeUnknown otherwise. An *Error whose code
// is CodeOK or none of the codes above is CodeUnknown: an error is a failure, and its
// code is what a provider sends.
func CodeOf(err error) Code {
	if err == nil {
		return CodeOK
	}
	var e *Error
	if errors.As(err, &e) {
		if e.Code == CodeOK || e.Code > maxCode {
			return CodeUnknown
		}
		return e.Code
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return CodeDeadlineExceeded
	case errors.Is(err, context.Canceled):
		return CodeCanceled
	}
	return CodeUnknown
}

// fromTransport classifies a transport error of a call to addr.
func fromTransport(err error, target string) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	code := CodeUnknown
	switch {
	case errors.Is(err, transport.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		code = CodeDeadlineExceeded
	case errors.Is(err, context.Canceled):
		code = CodeCanceled
	case errors.Is(err, transport.ErrTooManyRequests):
		code = CodeBusy
	case errors.Is(err, transport.ErrClosed):
		code = CodeClosed
	case errors.Is(err, transport.ErrConnectFailed), errors.Is(err, transport.ErrConnectionLost):
		code = CodeUnavailable
	case errors.Is(err, transport.ErrFrameTooLarge):
		code = CodeBadArguments
	}
	return &Error{Code: code, Message: target + ": " + err.Error(), cause: err}
}
