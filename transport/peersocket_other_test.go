//go:build !unix

package transport

import "syscall"

// peerSocket sets a test peer's receive buffer to rcvbuf bytes; the segments' size
// stays the system's.
func peerSocket(rcvbuf, _ int) func(_, _ string, rc syscall.RawConn) error {
	return func(_, _ string, rc syscall.RawConn) error {
		var err error
		rc.Control(func(fd uintptr) {
			err = syscall.SetsockoptInt(syscall.Handle(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, rcvbuf)
		})
		return err
	}
}
