//go:build darwin

package transport

import "net"

// tcpNotSentLowat is TCP_NOTSENT_LOWAT, which package syscall does not name.
const tcpNotSentLowat = 0x201

// sendQueue cannot read the socket's send queue here (-1): a write the socket did not
// wake for WriteTimeout fails, whatever the peer took meanwhile.
func sendQueue(net.Conn) int { return -1 }
