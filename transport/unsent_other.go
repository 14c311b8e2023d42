//go:build !linux && !darwin

package transport

import "net"

const boundsUnsent = false

func limitUnsent(net.Conn, int) {}
