package transport

// Hook runs around every request and response, on both sides of a connection, like
// RocketMQ's RPCHook: for signatures, access control or logging.
//
// On the sending side BeforeRequest runs in the caller's goroutine before the request
// is written, and AfterResponse when its response has arrived (in the caller's
// goroutine for sync calls, in the connection's reader for async ones). On the serving
// side both run in the processor's worker, around the processor. A hook's error fails
// the call; on the serving side it is answered SYSTEM_ERROR with the error's text.
// Hooks may be called from many goroutines at once, and must not block for long. A
// hook must not keep the commands it is given once it returns: senders may reuse them.
type Hook interface {
	BeforeRequest(remoteAddr string, req *Command) error
	AfterResponse(remoteAddr string, req, resp *Command) error
}
