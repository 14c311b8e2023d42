package registry

import (
	"context"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// A seed that does not answer Join's first state exchange in time (busy with other
// joins) is tried again: Join succeeds on a later try.
func TestJoinRetriesASlowSeed(t *testing.T) {
	seed := startProvider(t, "seed", nil, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	defer func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	}()
	// The first connection is held without an answer; later ones reach the seed.
	wg.Go(func() {
		for first := true; ; first = false {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, in)
			mu.Unlock()
			if first {
				continue
			}
			out, err := net.Dial("tcp", seed.reg.GossipAddr())
			if err != nil {
				in.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, out)
			mu.Unlock()
			wg.Go(func() { io.Copy(out, in); out.Close() })
			wg.Go(func() { io.Copy(in, out); in.Close() })
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	reg, err := Join(ctx, Options{NodeName: "joiner", Preset: Fast, Seeds: []string{ln.Addr().String()}, Logger: quiet})
	if err != nil {
		t.Fatalf("Join through a seed that missed the first exchange: %v", err)
	}
	reg.Close()
}

// A member that a node asks for its catalog before gossip told it that the node
// joined (gossip reaches a few members seconds late) exchanges state with the
// asker: it learns of it within a few gossip intervals, not whenever gossip or a
// periodic push/pull happens by. Here gossip never tells: the asker is in a
// cluster of its own.
func TestAskerUnknownToGossipIsMet(t *testing.T) {
	member := startProvider(t, "member", nil, nil)
	asker := startProvider(t, "asker", nil, nil)
	self := asker.reg.self
	q := catalogRequest{node: asker.name, ip: self.Addr, port: self.Port}
	if err := asker.reg.ml.SendReliable(&member.reg.self, encodeCatalogRequest(q)); err != nil {
		t.Fatal(err)
	}
	asked := time.Now()
	providersOf(t, member.reg, whoDesc.Name, 2)
	took := time.Since(asked)
	t.Logf("the member routed to the asker %v after the request", took.Round(time.Millisecond))
	if bound := 10 * member.reg.introWait(); took > bound {
		t.Errorf("the member routed to the asker %v after its request, want within %v", took, bound)
	}
}
