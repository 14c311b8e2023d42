//go:build !linux

package main

import (
	"errors"
	"io"
)

// provideLoop needs epoll: the event-loop provider runs on Linux only.
func provideLoop(int, io.Reader, io.Writer) error {
	return errors.New("the loop provider needs Linux's epoll: use -provider ringrpc, bare or bare-yield here")
}
