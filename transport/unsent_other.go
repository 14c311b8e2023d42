//go:build !linux && !darwin

package transport

import "net"

const boundsUnsent = false

func limitUnsent(net.Conn, int) {}

// sendQueue cannot read the socket's send queue here (-1): a write the socket did not
// wake for WriteTimeout fails, whatever the peer took meanwhile.
func sendQueue(net.Conn) int { return -1 }
