package transport

import (
	"slices"
	"sync/atomic"
	"unsafe"
)

// ServerStats is what a Server counts, read by Server.Stats for monitoring. Counts
// run from NewServer; the others are as of the call.
type ServerStats struct {
	// Conns is the number of connections open.
	Conns int
	// InFlight is the number of requests accepted and not yet answered: waiting for
	// a worker, or running.
	InFlight int
	// Queued is the number of requests waiting for a worker, all pools together.
	Queued int
	// Busy counts the requests answered SYSTEM_BUSY because their pool's queue was
	// full, or in a pool of its own their connection's part of it, all pools
	// together, and the oneway requests dropped unrun for the same reason. The busy
	// answers a draining server gives peers too old for GO_AWAY are not counted: they
	// are part of going away.
	Busy uint64
	// BytesRead and BytesWritten count the bytes of frames read and written on every
	// connection, TLS's own excluded.
	BytesRead, BytesWritten uint64
	// Pools are the server's worker pools: the registered processors' in order of
	// request code, the default processor's, then those of NewPool in the order made.
	Pools []PoolStats
}

// PoolStats is what a worker pool counts.
type PoolStats struct {
	// Code is the request code of the processor the pool was registered for; 0 for
	// the default processor's pool and for pools made by NewPool.
	Code int32
	// Default is set for the default processor's pool.
	Default bool
	// Pool is the pool made by NewPool, nil for a registered processor's.
	Pool *Pool
	// Workers and QueueSize are the pool's sizes, defaults applied.
	Workers, QueueSize int
	// Queued is the number of requests waiting for a worker. It passes QueueSize
	// for the moment free workers take to start on a burst: at most by their number.
	Queued int
	// Busy counts the requests answered SYSTEM_BUSY because the queue was full, or
	// in a pool of its own the connection's part of it, and the oneway requests
	// dropped unrun for the same reason.
	Busy uint64
}

// ClientStats is what a Client counts, read by Client.Stats. Counts run from
// NewClient; the others are as of the call.
type ClientStats struct {
	// Conns is the number of connections open.
	Conns int
	// Pending is the number of sync and async calls sent and waiting for their
	// response, all connections together.
	Pending int
	// BytesRead and BytesWritten count the bytes of frames read and written on every
	// connection, TLS's own excluded.
	BytesRead, BytesWritten uint64
}

// Stats returns what the server counts. It takes the server's and each pool's lock
// briefly, never a connection's.
func (s *Server) Stats() ServerStats {
	s.mu.Lock()
	conns := len(s.conns)
	s.mu.Unlock()
	st := ServerStats{Conns: conns, InFlight: s.disp.running(), BytesRead: s.cfg.io.read.Load(), BytesWritten: s.cfg.io.written.Load()}
	st.Pools = s.disp.poolStats()
	for _, p := range st.Pools {
		st.Queued += p.Queued
		st.Busy += p.Busy
	}
	return st
}

// Stats returns what the client counts. It takes each connection's lock of pending
// calls briefly.
func (cl *Client) Stats() ClientStats {
	conns := cl.Conns()
	st := ClientStats{Conns: len(conns), BytesRead: cl.cfg.io.read.Load(), BytesWritten: cl.cfg.io.written.Load()}
	for _, c := range conns {
		st.Pending += c.Pending()
	}
	return st
}

func (d *dispatcher) poolStats() []PoolStats {
	d.mu.Lock()
	codes := make([]int32, 0, len(d.byCode))
	for code := range d.byCode {
		codes = append(codes, code)
	}
	slices.Sort(codes)
	out := make([]PoolStats, 0, len(codes)+len(d.extra)+1)
	for _, code := range codes {
		p := d.byCode[code].stats()
		p.Code = code
		out = append(out, p)
	}
	if d.def != nil {
		p := d.def.stats()
		p.Default = true
		out = append(out, p)
	}
	for _, wp := range d.extra {
		p := wp.stats()
		p.Pool = wp.owner()
		out = append(out, p)
	}
	d.mu.Unlock()
	return out
}

func (wp *workerPool) stats() PoolStats {
	wp.mu.Lock()
	n := wp.n
	wp.mu.Unlock()
	return PoolStats{Workers: wp.opts.Workers, QueueSize: wp.opts.QueueSize, Queued: n, Busy: wp.busy.Load()}
}

// owner returns the Pool made by NewPool around wp: a Pool is a workerPool and
// nothing else, so the two pointers are one address.
func (wp *workerPool) owner() *Pool {
	return (*Pool)(unsafe.Pointer(wp))
}

// ioCounters count an owner's bytes, shared by its connections: one add per read or
// write on the socket, which carries many frames under load. Readers and writers add
// to them themselves, rather than through a wrapped net.Conn, which would cost every
// read and write an interface call more.
type ioCounters struct {
	read, written atomic.Uint64
}
