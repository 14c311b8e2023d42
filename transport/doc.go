// Package transport speaks Apache RocketMQ's remoting protocol over long-lived TCP
// connections: commands, both header codecs, framing, opaque correlation, sync, async
// and oneway invocation, and processors per request code on either end of a connection.
//
// The wire format is byte-compatible with RocketMQ's Java and Go implementations; see
// docs/PROTOCOL.md in the repository for the layout. The package depends on the standard
// library only.
//
// # Layers
//
// [AppendFrame] and [ParseFrame] are pure functions with no I/O. [Conn] owns one network
// connection: a reader goroutine that decodes frames and completes pending calls inline,
// a writer goroutine that coalesces frames from many callers into few syscalls, and a
// reaper that, while calls are pending, times out those whose context has no deadline.
// [Client] keeps connections per address and dials them on demand; [Server] accepts them.
// Both ends of a connection may send requests, and both register [Processor]s.
package transport
