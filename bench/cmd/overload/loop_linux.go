//go:build linux

package main

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"sync"
	"syscall"

	"github.com/ringrpc/ringrpc/transport"
)

// loopTurn is the most requests a connection has answered in one turn of its loop:
// the rest wait in its buffer for the next turn, so that a connection with a deep
// backlog delays the others by loopTurn requests, not by its backlog.
const loopTurn = 4

// provideLoop serves SayHello from event loops, one per processor, each with its own
// epoll set: no goroutine per connection, and each loop sees every connection that
// became readable at each turn, not only when Go's scheduler polls the network. It
// stands beside the bare provider to tell what an event loop changes under a flood.
// It is built for the reading flood: a peer that never reads keeps its connection in
// the queue of those with a backlog, tried at every turn. With workers above 0 the
// loops hand each request to a pool of that many goroutines, as a provider whose
// handlers may block must, and the worker writes its answer; the pool takes light
// connections' requests before heavy ones'.
func provideLoop(workers int, in io.Reader, out io.Writer) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	loops := make([]*eventLoop, runtime.GOMAXPROCS(0))
	var pool *workPool
	if workers > 0 {
		pool = &workPool{light: make(chan job, 1024), heavy: make(chan job, 64)}
	}
	for i := range loops {
		if loops[i], err = newEventLoop(); err != nil {
			return err
		}
		loops[i].pool = pool
	}
	var wg sync.WaitGroup
	for range workers {
		go pool.work() // ends with the process
	}
	for _, l := range loops {
		wg.Go(l.run)
	}
	wg.Go(func() {
		for i := 0; ; i++ {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			if err := loops[i%len(loops)].add(nc.(*net.TCPConn)); err != nil {
				nc.Close()
			}
		}
	})
	fmt.Fprintln(out, ln.Addr())
	for sc := bufio.NewScanner(in); sc.Scan(); {
		fmt.Fprintf(out, "%d %d\n", peakRSS(), runtime.NumGoroutine())
	}
	ln.Close()
	for _, l := range loops {
		l.close()
	}
	wg.Wait()
	return nil
}

// workPool runs requests handed over by the loops, light connections' first.
type workPool struct {
	light, heavy chan job
}

type job struct {
	c   *loopConn
	req *transport.Command
}

func (p *workPool) work() {
	for {
		var j job
		select {
		case j = <-p.light:
		default:
			select {
			case j = <-p.light:
			case j = <-p.heavy:
			}
		}
		resp := transport.NewResponse(j.req, 0, "")
		resp.Body = []byte(`"hello"`)
		c := j.c
		c.mu.Lock()
		c.out, _ = transport.AppendFrame(c.out, resp, transport.SerializeRocketMQ)
		for len(c.out) > 0 {
			n, err := syscall.Write(c.fd, c.out)
			if err != nil {
				break // EAGAIN: the loop's next turn writes the rest
			}
			c.out = c.out[:copy(c.out, c.out[n:])]
		}
		c.mu.Unlock()
	}
}

type eventLoop struct {
	ep    int
	wake  [2]int // a pipe that ends the loop
	mu    sync.Mutex
	conns map[int]*loopConn
	done  bool        // the loop ended: connections added later are closed
	heavy []*loopConn // connections with a backlog, out of the epoll set meanwhile
	pool  *workPool   // runs the requests, or nil to answer them on the loop
}

// A connection with more than lightMax whole frames buffered after a read is heavy:
// it leaves the epoll set and is served loopTurn frames at a time, heavyTurns
// connections between two looks at the light ones, until its backlog is answered.
const (
	lightMax   = 16
	heavyTurns = 16
)

type loopConn struct {
	fd     int
	nc     *net.TCPConn // kept so that the runtime does not close fd
	in     []byte
	mu     sync.Mutex // guards out when a pool answers
	out    []byte
	queued bool
}

func newEventLoop() (*eventLoop, error) {
	ep, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	l := &eventLoop{ep: ep, conns: map[int]*loopConn{}}
	if err := syscall.Pipe2(l.wake[:], syscall.O_CLOEXEC|syscall.O_NONBLOCK); err != nil {
		return nil, err
	}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(l.wake[0])}
	return l, syscall.EpollCtl(ep, syscall.EPOLL_CTL_ADD, l.wake[0], &ev)
}

func (l *eventLoop) add(nc *net.TCPConn) error {
	rc, err := nc.SyscallConn()
	if err != nil {
		return err
	}
	var fd int
	if err := rc.Control(func(f uintptr) { fd = int(f) }); err != nil {
		return err
	}
	c := &loopConn{fd: fd, nc: nc, in: make([]byte, 0, 16<<10)}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.done {
		return net.ErrClosed
	}
	l.conns[fd] = c
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP, Fd: int32(fd)}
	return syscall.EpollCtl(l.ep, syscall.EPOLL_CTL_ADD, fd, &ev)
}

func (l *eventLoop) arm(c *loopConn, events uint32) {
	ev := syscall.EpollEvent{Events: events, Fd: int32(c.fd)}
	syscall.EpollCtl(l.ep, syscall.EPOLL_CTL_MOD, c.fd, &ev)
}

func (l *eventLoop) close() { syscall.Write(l.wake[1], []byte{0}) }

func (l *eventLoop) run() {
	events := make([]syscall.EpollEvent, 256)
	for {
		timeout := -1
		if len(l.heavy) > 0 {
			timeout = 0
		}
		n, err := syscall.EpollWait(l.ep, events, timeout)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return
		}
		for _, ev := range events[:n] {
			if int(ev.Fd) == l.wake[0] {
				l.mu.Lock()
				l.done = true
				for _, c := range l.conns {
					c.nc.Close()
				}
				l.mu.Unlock()
				return
			}
			l.mu.Lock()
			c := l.conns[int(ev.Fd)]
			l.mu.Unlock()
			if c != nil && !c.queued {
				l.turn(c, true)
			}
		}
		for i := 0; i < heavyTurns && len(l.heavy) > 0; i++ {
			c := l.heavy[0]
			l.heavy = l.heavy[1:]
			c.queued = false
			l.turn(c, false)
		}
	}
}

// turn reads what c has, answers its whole frames, loopTurn of them when it is heavy,
// and writes the answers.
func (l *eventLoop) turn(c *loopConn, read bool) {
	if read && len(c.in) < cap(c.in) {
		n, err := syscall.Read(c.fd, c.in[len(c.in):cap(c.in)])
		if n <= 0 && err != syscall.EAGAIN {
			l.drop(c)
			return
		}
		if n > 0 {
			c.in = c.in[:len(c.in)+n]
		}
	}
	limit := lightMax
	if !read || frames(c.in, lightMax+1) > lightMax {
		limit = loopTurn
	}
	off := 0
	for range limit {
		req, size, err := transport.ParseFrame(c.in[off:], cap(c.in)) // one larger than the buffer never comes whole
		if errors.Is(err, io.ErrUnexpectedEOF) {
			break
		}
		if err != nil {
			l.drop(c)
			return
		}
		off += size
		if l.pool != nil {
			if limit == loopTurn {
				l.pool.heavy <- job{c, req}
			} else {
				l.pool.light <- job{c, req}
			}
			continue
		}
		resp := transport.NewResponse(req, 0, "")
		resp.Body = []byte(`"hello"`)
		if c.out, err = transport.AppendFrame(c.out, resp, transport.SerializeRocketMQ); err != nil {
			l.drop(c)
			return
		}
	}
	c.in = c.in[:copy(c.in, c.in[off:])]
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.out) > 0 {
		n, err := syscall.Write(c.fd, c.out)
		if err == syscall.EAGAIN {
			break // the peer reads slowly: what is left goes with the next turn
		}
		if err != nil {
			l.drop(c)
			return
		}
		c.out = c.out[:copy(c.out, c.out[n:])]
	}
	// turn runs for a connection out of the heavy queue: it joins it again, or
	// returns to the epoll set.
	switch {
	case frames(c.in, 1) > 0 || len(c.out) > 0 && l.pool == nil:
		if read {
			l.arm(c, syscall.EPOLLRDHUP)
		}
		c.queued = true
		l.heavy = append(l.heavy, c)
	case !read:
		l.arm(c, syscall.EPOLLIN|syscall.EPOLLRDHUP)
	}
}

// frames counts the whole frames at the front of b, up to limit.
func frames(b []byte, limit int) int {
	n := 0
	for n < limit && len(b) >= 4 {
		size := 4 + int(binary.BigEndian.Uint32(b))
		if len(b) < size {
			break
		}
		b = b[size:]
		n++
	}
	return n
}

func (l *eventLoop) drop(c *loopConn) {
	syscall.EpollCtl(l.ep, syscall.EPOLL_CTL_DEL, c.fd, nil)
	l.mu.Lock()
	delete(l.conns, c.fd)
	l.mu.Unlock()
	c.nc.Close()
}
