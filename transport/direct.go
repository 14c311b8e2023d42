package transport

import (
	"net"
	"syscall"
	"time"
)

// A sender on a quiet connection writes its frame itself, instead of waking the
// writer goroutine to do it: a call alone on its connection, or the response to the
// one request in flight, saves a goroutine hand-off each way. The write never waits:
// the socket is non-blocking, and what the kernel does not take at once goes to the
// writer goroutine, which writes it before anything queued after it. Whoever writes
// holds the socket (writer.busy): the loop and a sender never write at once, so frames
// leave in the order they were queued.

// directWriter writes to the socket without waiting. Only the holder of the socket
// uses it.
type directWriter struct {
	rc  syscall.RawConn // nil when the connection is not a plain socket
	buf []byte
	n   int
	fn  func(fd uintptr) bool // write, made once: a method value per write would allocate
}

func (d *directWriter) init(nc net.Conn) {
	if !directWrites {
		return
	}
	var sc syscall.Conn
	switch c := nc.(type) { // not TLS, nor any wrapper: the bytes must go as they are
	case *net.TCPConn:
		sc = c
	case *net.UnixConn:
		sc = c
	default:
		return
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return
	}
	d.rc, d.fn = rc, d.write
}

// write makes one write of buf, and reports true: RawConn.Write must not wait for the
// socket to become writable. One write, not a loop: a sender is often a shared
// worker, and what the kernel does not take at once is the writer goroutine's.
func (d *directWriter) write(fd uintptr) bool {
	if n, _ := writeNow(fd, d.buf); n > 0 {
		d.n = n
	}
	return true
}

// try writes what the socket takes of buf at once and returns how much it took. A
// failure is left to the writer goroutine, which meets it again writing the rest.
func (d *directWriter) try(buf []byte) int {
	d.buf, d.n = buf, 0
	_ = d.rc.Write(d.fn)
	d.buf = nil
	return d.n
}

// writeDirect takes the queue, which holds only the frame just queued, and writes
// it. mu is held on entry and released.
func (w *writer) writeDirect() {
	w.busy.Store(true)
	b := w.takeQueueLocked(batch{})
	w.mu.Unlock()

	c := w.conn
	now := time.Now()
	if now.UnixNano() >= w.deadline.Load() {
		// The loop's last deadline has passed: a write would fail at once with it.
		w.setDeadline(now, c.cfg.writeTimeout)
	}
	n := w.direct.try(b.buf)
	if n > 0 {
		w.wrote(n, now)
	}
	if n < len(b.buf) {
		w.carryOver(b, n)
		return
	}
	w.written() // while the socket is held: respWriting is the holder's
	w.mu.Lock()
	w.busy.Store(false)
	// Frames queued meanwhile, or a drain, found the socket held: the loop looks again.
	again := w.missed || len(w.queue.buf) > 0 || len(w.streams) > 0
	w.missed = false
	w.mu.Unlock()
	b.settle(c, nil)
	b.reset()
	if again {
		w.kick()
	}
}

// carryOver hands the unwritten end of b, from off, to the loop, which writes it
// before anything queued after it.
func (w *writer) carryOver(b batch, off int) {
	w.mu.Lock()
	if w.state == writerClosed {
		err := w.err
		w.lost = w.lost || w.owes(b.buf[off:])
		w.busy.Store(false)
		w.mu.Unlock()
		b.settle(w.conn, err)
		b.reset()
		return
	}
	w.carry, w.carryOff = b, off
	w.busy.Store(false)
	w.missed = false
	w.mu.Unlock()
	w.kick()
}

// canWriteDirect reports whether a sender that queued a frame may write the queue
// itself: the socket is free, nothing is left over from an earlier write, no stream
// waits to be framed, and the queue held nothing before the frame. mu is held.
func (w *writer) canWriteDirect(before int) bool {
	return before == 0 && w.direct.rc != nil && !w.busy.Load() && w.carry.buf == nil &&
		len(w.streams) == 0 && w.state == writerOpen
}
