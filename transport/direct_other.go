//go:build !unix

package transport

import "errors"

// Senders never write the socket themselves here: the writer goroutine does.
const directWrites = false

func writeNow(uintptr, []byte) (int, error) {
	return 0, errors.ErrUnsupported
}
