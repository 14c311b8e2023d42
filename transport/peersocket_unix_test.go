//go:build unix

package transport

import "syscall"

// peerSocket sets a test peer's receive buffer to rcvbuf bytes and, when mss is not
// 0, its segments to mss bytes.
func peerSocket(rcvbuf, mss int) func(_, _ string, rc syscall.RawConn) error {
	return func(_, _ string, rc syscall.RawConn) error {
		var err error
		rc.Control(func(fd uintptr) {
			err = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, rcvbuf)
			if err == nil && mss > 0 {
				err = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_MAXSEG, mss)
			}
		})
		return err
	}
}
