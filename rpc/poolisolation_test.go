package rpc

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"
)

// startHolding serves slowDesc, whose Block holds its worker until the test ends,
// ignoring its context, and fastDesc.
func startHolding(t *testing.T, opts ServerOptions) (*Server, string, *atomic.Int64) {
	t.Helper()
	release := make(chan struct{})
	started := new(atomic.Int64) // Block calls begun
	opts.Logger = quiet
	opts.Transport.Logger = quiet
	s := NewServer(opts)
	quick := func(context.Context, *Decoder, *Encoder) error { return nil }
	block := func(context.Context, *Decoder, *Encoder) error {
		started.Add(1)
		<-release
		return nil
	}
	if err := s.Register(&slowDesc, []Handler{block, quick}); err != nil {
		t.Fatal(err)
	}
	if err := s.Register(&fastDesc, []Handler{quick}); err != nil {
		t.Fatal(err)
	}
	addr := serve(t, s.Serve, s.Close)
	t.Cleanup(func() { close(release) }) // before serve's Close, which waits for Block
	return s, addr, started
}

// TestBlockedPoolWithDefaultQueueLeavesOthersServed: a service pool sized as in
// docs/OPERATIONS.md's example ({Workers: 32}, QueueSize left at its default 10000)
// whose handlers all block holds more calls than the connection's MaxConnInflight
// (1024) and the server's MaxInflight (1024). Its calls are bounded by its own workers
// and queue, of which one connection may fill MaxConnInflight, not by those caps: the
// connection keeps reading, its calls beyond its part of the queue are answered busy,
// and another service's calls over the same client, the same connection, keep being
// answered at once.
func TestBlockedPoolWithDefaultQueueLeavesOthersServed(t *testing.T) {
	const workers, blocked, part = 32, 1100, 1024
	s, addr, _ := startHolding(t, ServerOptions{
		Pools: map[string]PoolOptions{slowDesc.Name: {Workers: workers}},
	})
	_, c := newGreeterClient(t, ClientOptions{Resolver: StaticAddress(addr), Timeout: time.Minute})
	if _, err := c.Invoke(context.Background(), c.NewCall(&fastDesc, 0)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	for range blocked {
		go c.Invoke(ctx, c.NewCall(&slowDesc, 0))
	}
	// All of them reach the provider: workers run, the connection's part of the
	// queue waits, the rest are answered busy.
	read := func() bool {
		st := s.Transport().Stats()
		return st.Queued == part && st.Busy >= blocked-workers-part
	}
	for deadline := time.Now().Add(10 * time.Second); !read(); {
		if time.Now().After(deadline) {
			st := s.Transport().Stats()
			t.Fatalf("10 s after %d calls of the slow pool were made, %d wait in its queue and %d were answered busy, want %d and %d: the connection stopped reading",
				blocked, st.Queued, st.Busy, part, blocked-workers-part)
		}
		time.Sleep(time.Millisecond)
	}

	var slowest time.Duration
	for i := range 50 {
		pctx, pcancel := context.WithTimeout(context.Background(), time.Second)
		begin := time.Now()
		_, err := c.Invoke(pctx, c.NewCall(&fastDesc, 0))
		slowest = max(slowest, time.Since(begin))
		pcancel()
		if err != nil {
			t.Fatalf("with %d calls of the slow pool held (%d queued), call %d of another service failed: %v",
				blocked, s.Transport().Stats().Queued, i, err)
		}
	}
	t.Logf("slowest of 50 calls to another service with %d calls held in the slow pool: %v", blocked, slowest)
}

// TestPoolHoldsABurstAsItStarts: a service pool holds Workers plus QueueSize calls
// that come in one write as soon as the server serves, while its workers may not all
// have started: none is answered busy.
func TestPoolHoldsABurstAsItStarts(t *testing.T) {
	for _, size := range []PoolOptions{{Workers: 8, QueueSize: 8}, {Workers: 8, QueueSize: 100}} {
		t.Run(fmt.Sprintf("%d+%d", size.Workers, size.QueueSize), func(t *testing.T) {
			s, addr, started := startHolding(t, ServerOptions{Pools: map[string]PoolOptions{slowDesc.Name: size}})
			p := wireDial(t, addr)
			n := size.Workers + size.QueueSize
			var burst []byte
			for i := range n {
				burst = append(burst, wireFrame(1, wireHeader(0, int32(i+1), 0, HeaderInterface, slowDesc.Name, HeaderMethod, "Block", headerTimeout, "10000"), []byte("[]"))...)
			}
			p.send(burst)
			// Every call is read once every worker runs one and the rest wait.
			waitUntil(t, func() bool {
				st := s.Transport().Stats()
				return st.Busy > 0 || started.Load() == int64(size.Workers) && st.Queued == size.QueueSize
			})
			if st := s.Transport().Stats(); st.Busy != 0 {
				t.Fatalf("%d of %d calls in one write answered busy by a pool of %d workers and a queue of %d", st.Busy, n, size.Workers, size.QueueSize)
			}
		})
	}
}
