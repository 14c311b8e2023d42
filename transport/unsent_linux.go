//go:build linux

package transport

import (
	"net"
	"syscall"
	"unsafe"
)

// tcpNotSentLowat is TCP_NOTSENT_LOWAT, which package syscall does not name.
const tcpNotSentLowat = 0x19

// sendQueue returns the bytes in nc's send queue, sent and not yet acknowledged or
// not yet sent, or -1 when nc is not a TCP socket or the kernel does not say. Its
// fall while writes add nothing is bytes the peer took.
func sendQueue(nc net.Conn) int {
	tc, ok := nc.(*net.TCPConn)
	if !ok {
		return -1
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return -1
	}
	n := -1
	rc.Control(func(fd uintptr) {
		var v int32
		if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TIOCOUTQ, uintptr(unsafe.Pointer(&v))); errno == 0 {
			n = int(v)
		}
	})
	return n
}
