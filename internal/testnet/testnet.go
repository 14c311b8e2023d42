// Package testnet provides network fixtures for tests: addresses that misbehave the way
// real networks do.
package testnet

import (
	"fmt"
	"net"
	"syscall"
	"testing"
	"time"
)

// BlackHole returns a loopback address whose listener never completes another
// connection: its accept queue is full, so the kernel drops the SYNs and a dial hangs
// until its own timeout, as with a host that drops packets. It skips the test where
// the queue cannot be filled.
func BlackHole(t testing.TB) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", sa.(*syscall.SockaddrInet4).Port)
	for range 8 { // fill the queue until a dial hangs
		nc, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err != nil {
			return addr
		}
		t.Cleanup(func() { nc.Close() })
	}
	t.Skip("could not fill a listener's accept queue on this system")
	return ""
}
