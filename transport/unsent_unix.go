//go:build linux || darwin

package transport

import (
	"net"
	"syscall"
)

const boundsUnsent = true

// limitUnsent bounds the bytes a TCP socket accepts and has not sent yet to n. A peer
// that reads nothing closes its window, and the kernel would otherwise take up to its
// largest send buffer (4 MiB by default on Linux) of responses for it, kernel memory
// spent on answers that will never be read and invisible to MaxUnreadOutput. What is
// sent and not yet acknowledged is not bounded, so a fast link keeps its throughput.
func limitUnsent(nc net.Conn, n int) {
	if u, ok := nc.(interface{ NetConn() net.Conn }); ok { // TLS
		nc = u.NetConn()
	}
	tc, ok := nc.(*net.TCPConn)
	if !ok {
		return
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return
	}
	rc.Control(func(fd uintptr) {
		// Best effort: a kernel without the option keeps its own bound.
		_ = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, tcpNotSentLowat, n)
	})
}
