package transport

import (
	"context"
	"sync"
	"testing"
	"time"
)

// A pool of one worker and a queue of one, its worker held: the next request waits,
// the one after is answered busy, and both sides count what they hold.
func TestStats(t *testing.T) {
	started, release := make(chan struct{}, 3), make(chan struct{})
	block := ProcessorFunc(func(ctx context.Context, _ *Conn, req *Command) (*Command, error) {
		started <- struct{}{}
		<-release
		return NewResponse(req, CodeSuccess, ""), nil
	})
	s, addr := startServer(t, ServerOptions{}, func(s *Server) {
		must(t, s.RegisterProcessor(codeBlock, block, PoolOptions{Workers: 1, QueueSize: 1}))
		must(t, s.RegisterProcessor(codeEcho, echo, PoolOptions{}))
	})
	var once sync.Once
	free := func() { once.Do(func() { close(release) }) }
	t.Cleanup(free) // before the server's close, which waits for the processor
	c := newTestClient(t, ClientOptions{})
	done := make(chan *Command, 3)
	send := func() {
		c.InvokeAsync(context.Background(), addr, &Command{Code: codeBlock, Body: []byte("hello")}, func(resp *Command, err error) {
			if err != nil {
				t.Error(err)
				resp = &Command{Code: -1}
			}
			done <- resp
		})
	}
	send()
	waitFor(t, started, "the first request to run")
	send() // waits for the worker
	send() // finds the queue full
	if resp := waitFor(t, done, "the busy answer"); resp.Code != CodeSystemBusy {
		t.Fatalf("third request answered %d, want SYSTEM_BUSY", resp.Code)
	}
	st, cs := s.Stats(), c.Stats()
	if st.Conns != 1 || st.InFlight != 2 || st.Queued != 1 || st.Busy != 1 {
		t.Fatalf("server stats %+v, want 1 connection, 2 in flight, 1 queued, 1 busy", st)
	}
	if len(st.Pools) != 2 || st.Pools[0].Code != codeEcho || st.Pools[1].Code != codeBlock {
		t.Fatalf("pools %+v, want echo's then block's, by code", st.Pools)
	}
	if p := st.Pools[1]; p.Workers != 1 || p.QueueSize != 1 || p.Queued != 1 || p.Busy != 1 || p.Pool != nil {
		t.Fatalf("block's pool %+v", p)
	}
	if cs.Conns != 1 || cs.Pending != 2 {
		t.Fatalf("client stats %+v, want 1 connection, 2 pending", cs)
	}
	free()
	for range 2 {
		if resp := waitFor(t, done, "the held requests' answers"); resp.Code != CodeSuccess {
			t.Fatalf("held request answered %d", resp.Code)
		}
	}
	// A worker counts its request answered, and a side counts its bytes, just after
	// the write that the other side may read first.
	settled := func() bool {
		st, cs = s.Stats(), c.Stats()
		return st.InFlight == 0 && st.Queued == 0 && cs.Pending == 0 &&
			st.BytesRead > 0 && st.BytesRead == cs.BytesWritten && st.BytesWritten == cs.BytesRead
	}
	if !eventually(settled) {
		t.Fatalf("after the answers: server %+v, client %+v: want nothing in flight, and each side's bytes seen by the other", st, cs)
	}
}

// eventually reports whether cond holds within a generous bound, looking every
// millisecond.
func eventually(cond func() bool) bool {
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	give := time.After(10 * time.Second)
	for !cond() {
		select {
		case <-tick.C:
		case <-give:
			return false
		}
	}
	return true
}

// A pool made by NewPool is reported with its Pool.
func TestStatsNewPool(t *testing.T) {
	var pool *Pool
	s, _ := startServer(t, ServerOptions{}, func(s *Server) {
		must(t, s.RegisterDefaultProcessor(echo, PoolOptions{}))
		var err error
		pool, err = s.NewPool(echo, PoolOptions{Workers: 3, QueueSize: 7})
		must(t, err)
	})
	st := s.Stats()
	if len(st.Pools) != 2 || !st.Pools[0].Default || st.Pools[1].Pool != pool || st.Pools[1].Workers != 3 || st.Pools[1].QueueSize != 7 {
		t.Fatalf("pools %+v: want the default's, then the new pool", st.Pools)
	}
	if st.Conns != 0 || st.InFlight != 0 {
		t.Fatalf("idle server %+v", st)
	}
}
