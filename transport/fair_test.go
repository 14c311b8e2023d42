package transport

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sync"
	"testing"
	"time"
)

// testPool returns a pool whose workers are not started: the test takes its requests.
func testPool(opts PoolOptions) *workerPool {
	wp := new(workerPool)
	wp.init(newDispatcher(), echo, opts)
	return wp
}

// enqueue queues a request of c with opaque in wp, as c's reader does.
func enqueue(wp *workerPool, c *Conn, opaque int32) bool {
	req := NewRequest(codeEcho, nil, nil)
	req.Opaque = opaque
	return wp.push(c.queueIn(wp), req)
}

type queuedReq struct {
	conn   string
	opaque int32
}

// The pool takes queued requests from the connections in turn, one at a time: a
// connection with one request queued waits behind at most one request of each other
// connection, whatever their backlogs.
func TestPoolTakesConnectionsInTurn(t *testing.T) {
	for _, tc := range []struct {
		name   string
		queued []queuedReq // in the order they arrive
		want   []queuedReq // in the order the workers take them
	}{
		{
			name:   "one connection keeps its order",
			queued: []queuedReq{{"a", 1}, {"a", 2}, {"a", 3}},
			want:   []queuedReq{{"a", 1}, {"a", 2}, {"a", 3}},
		},
		{
			name:   "a backlog does not delay a newcomer",
			queued: []queuedReq{{"a", 1}, {"a", 2}, {"a", 3}, {"b", 1}},
			want:   []queuedReq{{"a", 1}, {"b", 1}, {"a", 2}, {"a", 3}},
		},
		{
			name:   "three connections alternate",
			queued: []queuedReq{{"a", 1}, {"a", 2}, {"b", 1}, {"b", 2}, {"c", 1}, {"a", 3}},
			want:   []queuedReq{{"a", 1}, {"b", 1}, {"c", 1}, {"a", 2}, {"b", 2}, {"a", 3}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wp := testPool(PoolOptions{})
			conns := map[string]*Conn{}
			names := map[*Conn]string{}
			for _, q := range tc.queued {
				c := conns[q.conn]
				if c == nil {
					c = new(Conn)
					conns[q.conn], names[c] = c, q.conn
				}
				if !enqueue(wp, c, q.opaque) {
					t.Fatalf("queueing %v failed", q)
				}
			}
			var got []queuedReq
			for range tc.queued {
				tk, _ := wp.pop(&worker{})
				got = append(got, queuedReq{names[tk.conn], tk.req.Opaque})
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("taken in order %v, want %v", got, tc.want)
			}
		})
	}
}

// Connection A with 100 requests queued, then B with one: B's is among the first two
// taken.
func TestPoolBacklogDoesNotStarveAnotherConnection(t *testing.T) {
	wp := testPool(PoolOptions{})
	a, b := new(Conn), new(Conn)
	for i := range 100 {
		enqueue(wp, a, int32(i))
	}
	enqueue(wp, b, 0)
	for i := range 2 {
		if tk, _ := wp.pop(&worker{}); tk.conn == b {
			return
		} else if i == 1 {
			t.Fatalf("B's request was not among the first two taken")
		}
	}
}

// QueueSize bounds the requests queued in a pool, all connections together; a
// request taken makes room for one more. Closing and aborting see every queued
// request, whichever connection queued it.
func TestPoolQueueSizeAndAbortSpanConnections(t *testing.T) {
	wp := testPool(PoolOptions{QueueSize: 5})
	wp.active = wp.opts.Workers // every worker runs a request: what comes waits
	a, b := new(Conn), new(Conn)
	for i := range 3 {
		enqueue(wp, a, int32(i))
	}
	enqueue(wp, b, 0)
	enqueue(wp, b, 1)
	if enqueue(wp, b, 2) || enqueue(wp, new(Conn), 0) {
		t.Fatal("a full pool took a request")
	}
	wp.pop(&worker{})
	if !enqueue(wp, b, 2) {
		t.Fatal("a pool with room refused a request")
	}
	dropped := wp.abort()
	if len(dropped) != 5 {
		t.Fatalf("abort returned %d requests, want the 5 queued", len(dropped))
	}
	if enqueue(wp, a, 9) {
		t.Error("an aborted pool took a request")
	}
	if _, ok := wp.pop(&worker{}); ok {
		t.Error("an aborted pool gave a request")
	}
}

// A pool holds Workers plus QueueSize requests in all, whether its workers have
// started, are parked or are about to take the next: the requests free workers are
// about to take do not count against the queue. Its workers have not run here.
func TestPoolHoldsWorkersPlusQueueBeforeItsWorkersRun(t *testing.T) {
	wp := testPool(PoolOptions{Workers: 4, QueueSize: 4})
	c := new(Conn)
	for i := range 8 {
		if !enqueue(wp, c, int32(i)) {
			t.Fatalf("request %d of 8 refused by a pool of 4 workers, none running, and a queue of 4", i+1)
		}
	}
	if enqueue(wp, c, 8) {
		t.Fatal("a pool took a ninth request with 4 workers and a queue of 4")
	}
	for i := range 4 {
		wp.pop(&worker{id: i}) // every worker, each its own, now runs one; 4 wait
	}
	if enqueue(wp, c, 9) {
		t.Fatal("a pool whose 4 workers run took a fifth request to wait in a queue of 4")
	}
}

// A connection that floods the server's only pool, small and slow, keeps hundreds of
// requests queued in it; a caller on another connection is still answered in about
// the time of a few requests, not of the flood's backlog.
func TestFloodingConnectionDoesNotDelayOthers(t *testing.T) {
	const (
		work  = time.Millisecond
		calls = 20
	)
	slow := ProcessorFunc(func(_ context.Context, _ *Conn, req *Command) (*Command, error) {
		time.Sleep(work) // the work a request costs
		return NewResponse(req, CodeSuccess, ""), nil
	})
	s, addr := startServer(t, ServerOptions{}, func(s *Server) {
		must(t, s.RegisterProcessor(codeEcho, slow, PoolOptions{Workers: 1}))
	})
	cl := newTestClient(t, ClientOptions{})
	alone := sequentialCalls(t, cl, addr, calls)

	stopped := make(chan struct{})
	var once sync.Once
	s.cfg.readerWaits = func(*Conn) { once.Do(func() { close(stopped) }) }
	flood(t, addr)
	waitFor(t, stopped, "the flood to fill its share of the pool")
	queued := s.disp.byCode[codeEcho].queuedNow()
	flooded := sequentialCalls(t, cl, addr, calls)

	t.Logf("one request's work %v; a caller alone: median %v, slowest %v; beside a flood with %d requests queued: median %v, slowest %v",
		work, alone[calls/2], alone[calls-1], queued, flooded[calls/2], flooded[calls-1])
	if queued < 100 {
		t.Fatalf("the flood had %d requests queued, want hundreds for the test to mean anything", queued)
	}
	// Fair: the running request and one of the flood's ahead, about 3 ms. First come
	// first served: the flood's whole backlog, hundreds of milliseconds.
	if bound := alone[calls/2] + 40*work; flooded[calls/2] > bound {
		t.Errorf("beside the flood the median call took %v, want under %v", flooded[calls/2], bound)
	}
}

// sequentialCalls makes n calls one after another and returns their durations, sorted.
func sequentialCalls(t *testing.T, cl *Client, addr string, n int) []time.Duration {
	t.Helper()
	took := make([]time.Duration, n)
	for i := range n {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		start := time.Now()
		resp, err := cl.InvokeSync(ctx, addr, NewRequest(codeEcho, nil, nil))
		took[i] = time.Since(start)
		cancel()
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		if resp.Code != CodeSuccess {
			t.Fatalf("call %d answered code %d: %s", i, resp.Code, resp.Remark)
		}
	}
	slices.Sort(took)
	return took
}

// flood pipelines requests for codeEcho on a raw connection as fast as the server
// reads them, and reads and discards every answer, until the test ends.
func flood(t *testing.T, addr string) {
	var wg sync.WaitGroup
	t.Cleanup(wg.Wait) // after the connection closes: cleanups run last first
	nc := rawDial(t, addr)
	wg.Go(func() { pipeline(nc, codeEcho) })
	wg.Go(func() { io.Copy(io.Discard, nc) })
}

// queuedNow returns how many requests wait in the pool.
func (wp *workerPool) queuedNow() int {
	wp.mu.Lock()
	defer wp.mu.Unlock()
	return wp.n
}

// The cost of queueing and taking a request, without workers: one busy connection
// (the happy path), and 500 connections with a few requests each.
func BenchmarkPoolQueue(b *testing.B) {
	for _, conns := range []int{1, 500} {
		b.Run(fmt.Sprintf("conns=%d", conns), func(b *testing.B) {
			wp := testPool(PoolOptions{})
			cs := make([]*Conn, conns)
			for i := range cs {
				cs[i] = new(Conn)
			}
			req, w := NewRequest(codeEcho, nil, nil), &worker{}
			const burst = 1000
			b.ReportAllocs()
			for i := 0; i < b.N; i += burst {
				for j := range burst {
					c := cs[j%conns]
					wp.push(c.queueIn(wp), req)
				}
				for range burst {
					wp.pop(w)
				}
			}
		})
	}
}
