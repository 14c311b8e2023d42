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

// A member that hears from a node before gossip told it that the node joined
// (gossip reaches a few members seconds late) exchanges state with it: it learns
// of it within a few gossip intervals, not whenever gossip or a periodic push/pull
// happens by. It hears from it by a catalog request (a joiner asks every member)
// or by its ring digest. Here gossip never tells: the node is in a cluster of its
// own.
func TestStrangerIsMet(t *testing.T) {
	for _, tc := range []struct {
		name string
		msg  func(name string, ip []byte, port uint16) []byte
	}{
		{"catalog request", func(name string, ip []byte, port uint16) []byte {
			return encodeCatalogRequest(catalogRequest{node: name, ip: ip, port: port})
		}},
		{"ring digest", func(name string, ip []byte, port uint16) []byte {
			return encodeDigest(digestMsg{ringDigest{node: name, seq: 1, digest: 5}, ip, port})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			member := startProvider(t, "member", nil, nil)
			stranger := startProvider(t, "stranger", nil, nil)
			self := stranger.reg.self
			if err := stranger.reg.ml.SendReliable(&member.reg.self, tc.msg(stranger.name, self.Addr, self.Port)); err != nil {
				t.Fatal(err)
			}
			sent := time.Now()
			providersOf(t, member.reg, whoDesc.Name, 2)
			took := time.Since(sent)
			t.Logf("the member routed to the stranger %v after its message", took.Round(time.Millisecond))
			if bound := 10 * member.reg.introWait(); took > bound {
				t.Errorf("the member routed to the stranger %v after its message, want within %v", took, bound)
			}
		})
	}
}
