// Package rawpeer is the ceiling: length-prefixed frames echoed over TCP, with no
// protocol, no encoding and no dispatch. Its client pipelines frames encoded once at
// Dial on one connection and matches replies by an id in the frame.
package rawpeer

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"sync"

	"github.com/ringrpc/ringrpc/bench/internal/greeter"
)

// A frame is a 4-byte big-endian length, then the id of the caller's slot (4
// bytes), the kind of call (1 byte) and the pre-encoded arguments.
const (
	headerLen = 4 + 4 + 1
	maxSlots  = 4096
)

const (
	kindHello byte = iota
	kindEcho
)

var errClosed = errors.New("rawpeer: connection closed")

// Client calls the raw echo server over one connection. Its methods send the frame
// encoded at Dial for the benchmark's arguments, whatever the arguments, and return
// the result for those arguments once the echo matches what was sent.
type Client struct {
	nc     net.Conn
	bodies [2][]byte // the arguments of each kind, as JSON
	echo   greeter.Payload

	mu   sync.Mutex
	buf  []byte   // frames not yet written
	free []uint32 // idle slots

	slots []chan bool // per slot: whether the echo matched
	wake  chan struct{}
	dead  chan struct{}
	once  sync.Once
	wg    sync.WaitGroup
}

// Dial connects to the raw echo server at addr.
func Dial(addr string) (*Client, error) {
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	c := &Client{nc: nc, echo: greeter.Sample(), wake: make(chan struct{}, 1), dead: make(chan struct{})}
	if err := c.encodeBodies(); err != nil {
		nc.Close()
		return nil, err
	}
	c.slots = make([]chan bool, maxSlots)
	c.free = make([]uint32, maxSlots)
	for i := range c.slots {
		c.slots[i] = make(chan bool, 1)
		c.free[i] = uint32(maxSlots - 1 - i)
	}
	c.wg.Go(c.writeLoop)
	c.wg.Go(c.readLoop)
	return c, nil
}

func (c *Client) encodeBodies() error {
	hello, err := json.Marshal([]string{greeter.HelloA, greeter.HelloB})
	if err != nil {
		return err
	}
	echo, err := json.Marshal(&c.echo)
	if err != nil {
		return err
	}
	c.bodies = [2][]byte{kindHello: hello, kindEcho: echo}
	return nil
}

// SayHello sends the pre-encoded hello frame and returns greeter.HelloReply.
func (c *Client) SayHello(ctx context.Context, _, _ string) (string, error) {
	if err := c.call(ctx, kindHello); err != nil {
		return "", err
	}
	return greeter.HelloReply, nil
}

// Echo sends the pre-encoded greeter.Sample frame and returns greeter.Sample.
func (c *Client) Echo(ctx context.Context, _ *greeter.Payload) (greeter.Payload, error) {
	if err := c.call(ctx, kindEcho); err != nil {
		return greeter.Payload{}, err
	}
	return c.echo, nil
}

// call queues a frame of the given kind for the writer and waits for its echo.
func (c *Client) call(ctx context.Context, kind byte) error {
	id, err := c.enqueue(kind)
	if err != nil {
		return err
	}
	select {
	case c.wake <- struct{}{}:
	default:
	}
	select {
	case ok := <-c.slots[id]:
		c.release(id)
		if !ok {
			return fmt.Errorf("rawpeer: the echo of slot %d differs from the frame sent", id)
		}
		return nil
	case <-ctx.Done():
		return ctx.Err() // the slot is abandoned: its echo may still come
	case <-c.dead:
		return errClosed
	}
}

// enqueue takes a slot and appends its frame to the write buffer.
func (c *Client) enqueue(kind byte) (uint32, error) {
	body := c.bodies[kind]
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.free) == 0 {
		return 0, fmt.Errorf("rawpeer: more than %d calls in flight", maxSlots)
	}
	id := c.free[len(c.free)-1]
	c.free = c.free[:len(c.free)-1]
	c.buf = binary.BigEndian.AppendUint32(c.buf, uint32(headerLen-4+len(body)))
	c.buf = binary.BigEndian.AppendUint32(c.buf, id)
	c.buf = append(c.buf, kind)
	c.buf = append(c.buf, body...)
	return id, nil
}

func (c *Client) release(id uint32) {
	c.mu.Lock()
	c.free = append(c.free, id)
	c.mu.Unlock()
}

// writeLoop writes the queued frames, yielding once first so that callers woken
// together share a write.
func (c *Client) writeLoop() {
	var spare []byte
	for {
		select {
		case <-c.wake:
		case <-c.dead:
			return
		}
		runtime.Gosched()
		c.mu.Lock()
		buf := c.buf
		c.buf = spare[:0]
		c.mu.Unlock()
		if len(buf) > 0 {
			if _, err := c.nc.Write(buf); err != nil {
				c.kill()
				return
			}
		}
		spare = buf
	}
}

// readLoop reads echoes and tells each slot whether its echo matched.
func (c *Client) readLoop() {
	defer c.kill()
	br := bufio.NewReaderSize(c.nc, 64<<10)
	buf := make([]byte, 1024)
	for {
		if _, err := io.ReadFull(br, buf[:headerLen]); err != nil {
			return
		}
		n := int(binary.BigEndian.Uint32(buf)) + 4
		id, kind := binary.BigEndian.Uint32(buf[4:]), buf[8]
		if n < headerLen || n > maxFrame || id >= maxSlots || int(kind) >= len(c.bodies) {
			return
		}
		if cap(buf) < n {
			buf = append(buf[:headerLen], make([]byte, n-headerLen)...)
		}
		buf = buf[:n]
		if _, err := io.ReadFull(br, buf[headerLen:]); err != nil {
			return
		}
		c.slots[id] <- bytes.Equal(buf[headerLen:], c.bodies[kind])
	}
}

func (c *Client) kill() {
	c.once.Do(func() {
		close(c.dead)
		c.nc.Close()
	})
}

// Close closes the connection; calls in flight fail.
func (c *Client) Close() error {
	c.kill()
	c.wg.Wait()
	return nil
}
