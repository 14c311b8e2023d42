//go:build unix

package transport

import "syscall"

const directWrites = true

// writeNow writes b to the non-blocking socket fd, once, retrying only an interrupted
// write.
func writeNow(fd uintptr, b []byte) (int, error) {
	for {
		n, err := syscall.Write(int(fd), b)
		if err != syscall.EINTR {
			return n, err
		}
	}
}
