package transport

import (
	"context"
	"fmt"
	"runtime/debug"
	"sync"
	"sync/atomic"
)

// Processor handles the requests of one request code. Process runs on a worker of the
// processor's pool or, for a request alone on its connection, on the connection's
// reader in an idle worker's place (docs/OPERATIONS.md, "Quiet connections"). conn is
// the connection the request came on: the processor may send requests back over it.
//
// ctx is the request's own: it ends when the caller cancels the request (a cancel
// notice, docs/PROTOCOL.md), when conn closes for any reason (the peer went away, or
// the owning Server or Client closed), and when Process returns. The context of a
// oneway request is not tied to conn, whose peer waits for nothing: it ends when
// Process returns or the owner closes; a processor that
// answers later with WriteResponse and needs a context meanwhile detaches it with
// context.WithoutCancel. Deriving contexts from ctx starts no goroutine. ctx may be
// kept after Process returns.
//
// The returned command is the response: its opaque, flag and serialization are set by
// the connection from the request's. It may be req itself, given the response's code,
// remark, extFields and body: an echo, say, saves an allocation that way. A returned
// error is answered SYSTEM_ERROR with the error's text. For a oneway request the result
// is discarded; nothing is ever written back. A nil response with a nil error writes
// nothing.
type Processor interface {
	Process(ctx context.Context, conn *Conn, req *Command) (*Command, error)
}

// ProcessorFunc adapts a function to a Processor.
type ProcessorFunc func(ctx context.Context, conn *Conn, req *Command) (*Command, error)

// Process calls f.
func (f ProcessorFunc) Process(ctx context.Context, conn *Conn, req *Command) (*Command, error) {
	return f(ctx, conn, req)
}

type task struct {
	conn *Conn
	req  *Command
	ctx  *requestCtx
	// The request's opaque and oneway flag, copied as a worker takes it: a cancel
	// notice or a close reads these, never req, which its processor owns.
	opaque int32
	oneway bool
}

// Pool is a set of workers with a bounded queue of its own, running one processor for
// the requests that a registered processor's PoolOptions.Select hands it. A pool whose
// workers are all blocked, and whose queue is full, turns away only its own requests.
// Make one with Server.NewPool.
type Pool struct{ wp workerPool }

// workerPool runs one processor on a fixed set of goroutines fed by a bounded queue.
//
// The queue is fair across connections: each connection has a sub-queue of its own
// (connQueue), and the workers take requests from the connections that have some in
// turn, one request at a time. A request thus waits behind at most one request of
// each other connection, not behind a flood's backlog. One busy connection costs what
// a single shared ring did: the round holds it alone, and its reader finds its
// sub-queue without a lookup.
//
// Waking a parked goroutine costs more than most processors take, so the pool wakes
// workers one at a time: a request wakes a worker only when none is already on its
// way, and a worker that takes a request and sees more queued wakes the next. Under
// load the running workers take request after request without parking; a request
// never waits behind a blocked processor while a worker is idle.
type workerPool struct {
	d    *dispatcher // the owner: pools of another owner are not chosen
	p    Processor
	opts PoolOptions
	// own is set for a pool made by NewPool: its Workers and QueueSize bound the
	// requests a selector gives it, which do not count toward MaxConnInflight nor
	// MaxInflight, so that a pool whose handlers block stops no connection's reader.
	own bool

	mu     sync.Mutex
	cond   sync.Cond
	first  *connQueue // the round: connections with requests queued, the next to serve first
	last   *connQueue
	n      int  // requests queued, all connections together: at most opts.QueueSize beyond the free workers
	idle   int  // workers parked in cond.Wait
	active int  // workers running a request: the others take the next ones queued
	waking int  // workers signalled that have not yet run
	closed bool // no more requests: workers finish the queue and exit

	// running holds, by worker, the request the worker runs: a cancel notice or a
	// close finds it there. A worker sets its entry as it takes a request, and clears
	// it as it parks, both under mu. inlined holds the requests that readers run in
	// the place of idle workers (inline.go), lends counts them all, and watching says
	// the watch that hands slow ones on runs.
	running  []task
	inlined  []inlineRun
	lends    uint64
	watching bool
	// slow counts the requests still to be run on workers, as runs inline were slow;
	// slowRuns the slow runs in a row, late the runs in a row that returned late
	// (inline.go).
	slow     atomic.Int32
	slowRuns atomic.Int32
	late     atomic.Int32

	busy    atomic.Uint64 // requests turned away SYSTEM_BUSY: the queue was full
	workers sync.WaitGroup
}

// connQueue holds the requests one connection queued in one pool, oldest first. A
// connection feeding several pools has one in each, found by its reader in
// flow.queues without a lock. Its other fields are guarded by the pool's mu.
type connQueue struct {
	wp   *workerPool
	conn *Conn

	ring    []queued // a ring whose size is a power of two
	head    int
	n       int
	next    *connQueue // the next connection in the pool's round
	inRound bool
}

// queued is a request in a connQueue: its connection is the queue's.
type queued struct {
	req *Command
	end uint32 // a cancel notice or the close came while it waited: the state its context starts in
}

// retainedQueue is the largest ring a connQueue keeps once empty (16 KiB): with the
// default MaxConnInflight a connection grows its ring once and keeps it, and a larger
// burst's ring goes back to the heap, not to an idle connection.
const retainedQueue = DefaultMaxConnInflight

// queueIn returns the connection's sub-queue in wp, made on first use. Only the
// connection's reader calls it.
func (c *Conn) queueIn(wp *workerPool) *connQueue {
	for _, q := range c.flow.queues {
		if q.wp == wp {
			return q
		}
	}
	q := &connQueue{wp: wp, conn: c}
	c.flow.queues = append(c.flow.queues, q)
	return q
}

func (q *connQueue) put(r queued) {
	if q.n == len(q.ring) {
		q.grow()
	}
	q.ring[(q.head+q.n)&(len(q.ring)-1)] = r
	q.n++
}

func (q *connQueue) take() queued {
	r := q.ring[q.head]
	q.ring[q.head] = queued{}
	q.head = (q.head + 1) & (len(q.ring) - 1)
	q.n--
	if q.n == 0 {
		q.head = 0
		if len(q.ring) > retainedQueue {
			q.ring = nil
		}
	}
	return r
}

func (q *connQueue) grow() {
	r := make([]queued, max(2*len(q.ring), 8))
	for i := range q.n {
		r[i] = q.ring[(q.head+i)&(len(q.ring)-1)]
	}
	q.ring, q.head = r, 0
}

// push queues the request in q, its connection's sub-queue of wp, or reports false
// when the pool's queue is full or closed.
func (wp *workerPool) push(q *connQueue, req *Command) bool {
	wp.mu.Lock()
	// The requests that idle workers are about to take do not wait: workers are woken
	// one after another (and start so, with the server), and a burst read at once
	// would otherwise fill the queue while they are still idle. A pool of its own
	// bounds what each connection queues there as MaxConnInflight bounds what it has
	// in flight elsewhere: one peer cannot fill the queue.
	free := max(wp.opts.Workers-wp.active-len(wp.inlined), 0)
	if wp.n >= wp.opts.QueueSize+free || wp.closed || wp.own && q.n >= int(q.conn.cfg.maxConnInflight) {
		wp.mu.Unlock()
		return false
	}
	q.put(queued{req: req})
	if !q.inRound {
		wp.enter(q)
	}
	wp.n++
	wp.wakeOne()
	wp.mu.Unlock()
	return true
}

// enter puts q at the back of the round. mu is held.
func (wp *workerPool) enter(q *connQueue) {
	q.inRound = true
	if wp.last == nil {
		wp.first = q
	} else {
		wp.last.next = q
	}
	wp.last = q
}

// next takes the oldest request of the connection at the front of the round, which
// goes to the back if it has more. mu is held and a request is queued.
func (wp *workerPool) next() (task, uint32) {
	q := wp.first
	wp.first, q.next = q.next, nil
	if wp.first == nil {
		wp.last = nil
	}
	r := q.take()
	wp.n--
	if q.n > 0 {
		wp.enter(q)
	} else {
		q.inRound = false
	}
	return task{conn: q.conn, req: r.req}, r.end
}

// wakeOne signals a parked worker unless one is already on its way, or those parked
// are lent to readers. mu is held.
func (wp *workerPool) wakeOne() {
	if wp.waking == 0 && wp.idle > len(wp.inlined) {
		wp.waking++
		wp.cond.Signal()
	}
}

// pop waits for a request for worker w, and gives it a context; false means the pool
// is closed and its queue empty.
func (wp *workerPool) pop(w *worker) (task, bool) {
	if w.spare == nil {
		w.spare = w.ctxs.next() // outside the lock: it may allocate
	}
	wp.mu.Lock()
	if wp.running[w.id].req != nil { // it ran one until now
		wp.active--
	}
	wp.running[w.id] = task{}
	for wp.n == 0 {
		if wp.closed {
			wp.mu.Unlock()
			return task{}, false
		}
		wp.idle++
		wp.cond.Wait()
		wp.idle--
		if wp.waking > 0 {
			wp.waking--
		}
	}
	t, end := wp.next()
	wp.active++ // running[w.id] holds t below
	t.ctx, w.spare = w.spare, nil
	t.opaque, t.oneway = t.req.Opaque, t.req.IsOneway()
	if end == 0 && t.oneway && wp.d.onewayEnded.Load() {
		end = ctxEnded
	}
	if end != 0 { // a fresh context's state is 0
		t.ctx.state.Store(end)
	}
	wp.running[w.id] = t
	if wp.n > 0 {
		wp.wakeOne()
	}
	wp.mu.Unlock()
	return t, true
}

// end ends the requests of q's connection that match, or of every connection when q
// is nil, with how (requestCtx.end): those queued are marked, to start with their
// context ended, and the contexts of those running end now.
func (wp *workerPool) end(q *connQueue, how uint32, match func(opaque int32, oneway bool) bool) {
	wp.mu.Lock()
	mark := func(q *connQueue) {
		for i := range q.n {
			if e := &q.ring[(q.head+i)&(len(q.ring)-1)]; e.end == 0 && match(e.req.Opaque, e.req.IsOneway()) {
				e.end = how
			}
		}
	}
	if q != nil {
		mark(q)
	} else {
		for r := wp.first; r != nil; r = r.next { // the queues with requests
			mark(r)
		}
	}
	var ctxs []*requestCtx
	ending := func(r *task) {
		if r.conn != nil && (q == nil || r.conn == q.conn) && match(r.opaque, r.oneway) {
			ctxs = append(ctxs, r.ctx)
		}
	}
	for i := range wp.running {
		ending(&wp.running[i])
	}
	for i := range wp.inlined {
		ending(&wp.inlined[i].t)
	}
	wp.mu.Unlock()
	for _, ctx := range ctxs {
		ctx.end(how) // outside the lock: it runs the context's AfterFuncs
	}
}

// worker is what one worker goroutine of a pool keeps.
type worker struct {
	id    int
	ctxs  ctxSlab
	spare *requestCtx // the next request's context, carved before the lock
}

func (wp *workerPool) close() {
	wp.mu.Lock()
	wp.closed = true
	wp.cond.Broadcast()
	wp.mu.Unlock()
}

// abort closes the pool and takes its queued requests out: they will not run.
func (wp *workerPool) abort() []task {
	wp.mu.Lock()
	defer wp.mu.Unlock()
	wp.closed = true
	wp.cond.Broadcast()
	dropped := make([]task, 0, wp.n)
	for wp.n > 0 {
		t, _ := wp.next()
		dropped = append(dropped, t)
	}
	return dropped
}

// dispatcher routes inbound requests to processors by code. Processors are registered
// before start; after it the maps are only read. Pools for selectors (extra) may be
// added at any time.
type dispatcher struct {
	mu      sync.Mutex
	byCode  map[int32]*workerPool
	def     *workerPool
	extra   []*workerPool // made by newPool; guarded by mu
	start   sync.Once
	frozen  atomic.Bool
	stopped bool // the pools are closed: new ones are made closed; guarded by mu

	// inflight counts accepted requests not yet answered (MaxInflight bounds it);
	// drainBit marks a draining dispatcher, which turns new requests away with
	// GO_AWAY. active counts the connections with requests in flight. Every request
	// writes them from the reader and from a worker: they have a cache line of their
	// own, so that what readers and workers only read does not move with them.
	_        [64]byte
	inflight atomic.Int64
	active   atomic.Int64
	_        [64]byte

	drained   chan struct{}
	drainOnce sync.Once
	drainOne  sync.Once // drain sets drainBit once

	// onewayEnded is set as the owner closes: the contexts of oneway requests end
	// then, and start ended after. They are not tied to their connection: no caller
	// waits for them, and a peer that closes right after sending them (Close flushes
	// them for that) still wants them run.
	onewayEnded atomic.Bool
	// sealed is set once the draining server closes its connections: from then on
	// a oneway request is turned away too, as no worker would be left to run it.
	sealed atomic.Bool

	// streamsOpen counts the requests in flight that opened streams: they do not
	// count toward MaxInflight. streamRoutines are their goroutines.
	streamsOpen    atomic.Int64
	streamRoutines sync.WaitGroup
	// pooled counts the requests in flight in pools of their own (workerPool.own):
	// they do not count toward MaxInflight either.
	pooled atomic.Int64
}

const drainBit = 1 << 62

// goAwayMinVersion is V5_1_4: peers above it understand GO_AWAY.
const goAwayMinVersion = 441

// reservedRole names what the transport uses a reserved code for.
func reservedRole(code int32) string {
	switch code {
	case codePing:
		return "ping"
	case codeCancel:
		return "cancel notice"
	case codeGoingAway:
		return "going-away notice"
	}
	return "stream frames"
}

func newDispatcher() *dispatcher {
	return &dispatcher{byCode: make(map[int32]*workerPool), drained: make(chan struct{})}
}

func (d *dispatcher) register(code int32, isDefault bool, p Processor, opts PoolOptions) error {
	if p == nil {
		return fmt.Errorf("%w: nil processor for code %d", ErrRegistered, code)
	}
	if !isDefault && (isControl(code) || isStreamFrame(code)) {
		return fmt.Errorf("%w: code %d is reserved for the transport's %s (codes %d to %d are): choose another code", ErrRegistered, code, reservedRole(code), codePing, codeStreamDown)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.frozen.Load() {
		return fmt.Errorf("%w: processors must be registered before serving or dialling begins", ErrRegistered)
	}
	wp := new(workerPool)
	wp.init(d, p, opts)
	if isDefault {
		if d.def != nil {
			return fmt.Errorf("%w: a default processor is already registered", ErrRegistered)
		}
		d.def = wp
		return nil
	}
	if _, dup := d.byCode[code]; dup {
		return fmt.Errorf("%w: a processor for code %d is already registered", ErrRegistered, code)
	}
	d.byCode[code] = wp
	return nil
}

// init readies wp to run p for d, sized by opts; its workers are not yet started.
func (wp *workerPool) init(d *dispatcher, p Processor, opts PoolOptions) {
	wp.d, wp.p = d, p
	wp.opts = opts
	wp.opts.Workers = orDefault(opts.Workers, DefaultWorkers)
	wp.opts.QueueSize = orDefault(opts.QueueSize, DefaultQueueSize)
	wp.cond.L = &wp.mu
	wp.running = make([]task, wp.opts.Workers)
}

// newPool makes a pool for selectors, at any time: its workers start with the others,
// or at once when they already run; a pool made after stop is closed from the start.
func (d *dispatcher) newPool(p Processor, opts PoolOptions) (*Pool, error) {
	if p == nil {
		return nil, fmt.Errorf("%w: NewPool needs a processor", ErrRegistered)
	}
	pool := new(Pool)
	wp := &pool.wp
	wp.init(d, p, opts)
	wp.opts.Select = nil // a chosen pool runs what it is given
	wp.own = true
	d.mu.Lock()
	defer d.mu.Unlock()
	d.extra = append(d.extra, wp)
	switch {
	case d.stopped:
		wp.closed = true
	case d.frozen.Load():
		d.startWorkers(wp)
	}
	return pool, nil
}

// run starts the worker pools once; later registration fails.
func (d *dispatcher) run() {
	d.start.Do(func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		d.frozen.Store(true)
		for _, wp := range d.poolsLocked() {
			d.startWorkers(wp)
		}
	})
}

func (d *dispatcher) startWorkers(wp *workerPool) {
	wp.workers.Add(wp.opts.Workers)
	for i := range wp.opts.Workers {
		go d.work(wp, &worker{id: i})
	}
}

func (d *dispatcher) poolsLocked() []*workerPool {
	ps := make([]*workerPool, 0, len(d.byCode)+len(d.extra)+1)
	for _, wp := range d.byCode {
		ps = append(ps, wp)
	}
	if d.def != nil {
		ps = append(ps, d.def)
	}
	return append(ps, d.extra...)
}

// closePools closes every pool, those made later included.
func (d *dispatcher) closePools() []*workerPool {
	d.run() // so that a dispatcher never used has pools to close
	d.mu.Lock()
	d.stopped = true
	ps := d.poolsLocked()
	d.mu.Unlock()
	return ps
}

// stop ends the workers once no connection can submit anymore; queued requests are
// still processed.
func (d *dispatcher) stop() {
	ps := d.closePools()
	for _, wp := range ps {
		wp.close()
	}
	waitWorkers(ps)
	d.streamRoutines.Wait()
}

// abort closes every pool and drops the requests queued in them, ending their
// contexts; it returns how many it dropped. Running processors go on: wait for them
// with waitWorkers.
func (d *dispatcher) abort() (dropped int) {
	d.sealed.Store(true)
	for _, wp := range d.closePools() {
		for range wp.abort() {
			if wp.own {
				d.pooled.Add(-1)
			}
			d.end()
			dropped++
		}
	}
	return dropped
}

func waitWorkers(ps []*workerPool) {
	for _, wp := range ps {
		wp.workers.Wait()
	}
}

// accepted returns the requests accepted and not yet answered.
func (d *dispatcher) accepted() int64 {
	return d.inflight.Load()&^drainBit - d.streamsOpen.Load() - d.pooled.Load()
}

// running returns the requests accepted and not yet answered: once the queues are
// dropped, the processors still running.
func (d *dispatcher) running() int {
	return int(d.inflight.Load() &^ drainBit)
}

// drain turns new requests away and returns a channel closed when none is in flight.
func (d *dispatcher) drain() <-chan struct{} {
	d.drainOne.Do(func() {
		if d.inflight.Add(drainBit) == drainBit {
			d.closeDrained()
		}
	})
	return d.drained
}

func (d *dispatcher) closeDrained() {
	d.drainOnce.Do(func() { close(d.drained) })
}

// begin admits a request unless the dispatcher drains. A draining dispatcher still
// admits a oneway request until its connections close: nothing is written for a
// oneway request, so a GO_AWAY would lose it unseen. dispatch passes false for the
// oneway requests of a connection whose peer had its time to stop (Conn.overdue).
func (d *dispatcher) begin(oneway bool) bool {
	if d.inflight.Add(1)&drainBit != 0 && (!oneway || d.sealed.Load()) {
		d.end()
		return false
	}
	return true
}

func (d *dispatcher) end() {
	if d.inflight.Add(-1) == drainBit {
		d.closeDrained()
	}
}

// done counts a request of wp from c answered server-wide, and takes it out of c's
// requests in own pools; c.answered then takes it out of c's requests in flight. The
// own pools' counts drop first: for a moment a count may be one too high, never one
// too low, so that a reader never reads past a cap.
func (d *dispatcher) done(wp *workerPool, c *Conn) {
	if wp.own {
		d.pooled.Add(-1)
		c.flow.pooled.Add(-1)
	}
	d.end()
}

// dispatch hands a request to its processor's pool, or answers it at once. When the
// reader is given, the connection is quiet: dispatch returns the pool that lent the
// reader a worker's place to run req itself (inline.go), if one did.
func (d *dispatcher) dispatch(c *Conn, req *Command, r *reader) *workerPool {
	if isControl(req.Code) {
		c.control(req)
		return nil
	}
	wp := d.byCode[req.Code]
	if wp == nil {
		wp = d.def
	}
	switch {
	case wp == nil:
		c.reply(req, errorResponse(req, CodeRequestCodeNotSupported, fmt.Sprintf(" request type %d not supported", req.Code)))
	case !d.begin(req.IsOneway() && !c.overdue.Load()):
		// RocketMQ 5.x sends GO_AWAY only to peers newer than V5_1_4; older ones read
		// a busy server and try elsewhere.
		if req.Version > goAwayMinVersion {
			c.reply(req, errorResponse(req, CodeGoAway, "please go away"))
		} else {
			c.reply(req, errorResponse(req, CodeSystemBusy, "[SHUTDOWN]system busy, server is shutting down"))
		}
	default:
		c.allowNotice()
		if wp.opts.Select != nil {
			wp = d.choose(wp, c, req)
		}
		if req.Flag&flagStream != 0 {
			d.startStream(c, wp.p, req)
			return nil
		}
		if wp.own {
			d.pooled.Add(1)
			c.flow.pooled.Add(1)
		}
		if r != nil && !req.IsOneway() && c.flow.inflight.Load() == 1 && wp.lend(r, req) {
			return wp
		}
		if !wp.push(c.queueIn(wp), req) {
			wp.busy.Add(1)
			d.done(wp, c)
			c.reply(req, errorResponse(req, CodeSystemBusy, "[OVERLOAD]system busy, start flow control for a while"))
		}
	}
	return nil
}

// choose returns the pool wp's selector picks for req: wp itself when it picks none, a
// pool of another owner, or panics.
func (d *dispatcher) choose(wp *workerPool, c *Conn, req *Command) (chosen *workerPool) {
	defer func() {
		if r := recover(); r != nil {
			c.cfg.log.Error("transport: pool selector panicked; the processor's own pool runs the request", "peer", c.addr, "code", req.Code, "panic", r, "stack", string(debug.Stack()))
			chosen = wp
		}
	}()
	if p := wp.opts.Select(req); p != nil && p.wp.d == d {
		return &p.wp
	}
	return wp
}

// endOneway ends the contexts of the oneway requests being handled, and of those to
// come: the owner is closing.
func (d *dispatcher) endOneway() {
	d.onewayEnded.Store(true)
	d.mu.Lock()
	ps := d.poolsLocked()
	d.mu.Unlock()
	for _, wp := range ps {
		wp.end(nil, ctxEnded, func(_ int32, oneway bool) bool { return oneway })
	}
}

func (d *dispatcher) work(wp *workerPool, w *worker) {
	defer wp.workers.Done()
	for {
		t, ok := wp.pop(w)
		if !ok {
			return
		}
		d.finish(wp, t, d.process(wp.p, t))
	}
}

// finish answers t with resp and counts it answered.
func (d *dispatcher) finish(wp *workerPool, t task, resp *Command) {
	t.conn.respond(t.req, resp)
	t.ctx.end(ctxEnded)
	// The server-wide count drops before the connection's: a reader that answered
	// wakes sees the room both make.
	d.done(wp, t.conn)
	t.conn.answered(t.req)
	if wp.opts.ReuseRequests {
		giveBack(t.req)
	}
}

// process runs the hooks and the processor, turning errors and panics into responses.
func (d *dispatcher) process(p Processor, t task) (resp *Command) {
	c, req := t.conn, t.req
	defer func() {
		if r := recover(); r != nil {
			c.cfg.log.Error("transport: processor panicked", "peer", c.addr, "code", req.Code, "panic", r, "stack", string(debug.Stack()))
			resp = errorResponse(req, CodeSystemError, fmt.Sprintf("processor for code %d panicked: %v", req.Code, r))
		}
	}()
	if err := runBeforeHooks(c, req); err != nil {
		return errorResponse(req, CodeSystemError, err.Error())
	}
	resp, err := p.Process(t.ctx, c, req)
	if err != nil {
		return errorResponse(req, CodeSystemError, err.Error())
	}
	if resp == nil {
		return nil
	}
	if err := runAfterHooks(c, req, resp); err != nil {
		return errorResponse(req, CodeSystemError, err.Error())
	}
	return resp
}

func errorResponse(req *Command, code int32, remark string) *Command {
	return NewResponse(req, code, remark)
}

// WriteResponse answers req with resp: for processors that return no response and
// answer later, from any goroutine (RocketMQ's writeResponse). The response's opaque,
// flag and serialization are taken from req; the hooks' AfterResponse runs first.
// Nothing is written for a oneway request.
func (c *Conn) WriteResponse(req, resp *Command) error {
	if req.IsOneway() {
		return nil
	}
	if err := runAfterHooks(c, req, resp); err != nil {
		resp = errorResponse(req, CodeSystemError, err.Error())
	}
	return c.sendResponse(req, resp)
}

func (c *Conn) sendResponse(req, resp *Command) error {
	if req.Flag&flagStream != 0 {
		if s := c.InboundStream(req); s != nil {
			s.flush() // the response ends the stream: its messages go first
		}
	}
	// The response to the one request in flight is all the connection has to say.
	quiet := c.flow.inflight.Load() <= 1
	return c.w.send(context.Background(), resp, req.Opaque, FlagResponse, req.Serialize, nil, quiet)
}

// reply writes resp for req unless req is oneway or resp is nil, and counts req
// answered.
func (c *Conn) reply(req, resp *Command) {
	c.respond(req, resp)
	c.answered(req) // the reader may read again
}

// respond writes resp for req unless req is oneway or resp is nil.
func (c *Conn) respond(req, resp *Command) {
	if resp == nil || req.IsOneway() {
		return
	}
	if err := c.sendResponse(req, resp); err != nil && !c.isClosing() {
		c.cfg.log.Warn("transport: writing a response failed", "peer", c.addr, "code", req.Code, "opaque", req.Opaque, "err", err)
	}
}
