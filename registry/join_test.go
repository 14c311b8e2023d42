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
	ln := newStubSeed(t)
	// The first connection is held without an answer; later ones reach the seed.
	ln.serve(func(in net.Conn, first bool) {
		if first {
			return
		}
		out, err := net.Dial("tcp", seed.reg.GossipAddr())
		if err != nil {
			in.Close()
			return
		}
		ln.keep(out)
		ln.wg.Go(func() { io.Copy(out, in); out.Close() })
		ln.wg.Go(func() { io.Copy(in, out); in.Close() })
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

// Join's ctx bounds a Join that fails too: a seed that takes the connection and
// never answers holds memberlist's state exchange for its TCP timeout (10 s with
// LAN), and Join returns when ctx ends, not when that timeout does, with every
// goroutine it started ended.
func TestJoinFailureEndsWithItsContext(t *testing.T) {
	ln := newStubSeed(t)
	ln.serve(func(net.Conn, bool) {})
	const bound = 300 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	start := time.Now()
	reg, err := Join(ctx, Options{NodeName: "joiner", Preset: LAN, BindAddr: "127.0.0.1", BindPort: -1,
		Seeds: []string{ln.Addr().String()}, Logger: quiet})
	took := time.Since(start)
	if err == nil {
		reg.Close()
		t.Fatal("Join through a seed that never answers succeeded")
	}
	if took > bound+time.Second {
		t.Fatalf("Join with a %v context returned after %v: %v", bound, took, err)
	}
}

// stubSeed listens where a seed would and hands each connection it accepts to a
// function; the test's end closes it and every connection kept, and waits for its
// goroutines.
type stubSeed struct {
	net.Listener
	wg    sync.WaitGroup
	mu    sync.Mutex
	conns []net.Conn
}

func newStubSeed(t *testing.T) *stubSeed {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &stubSeed{Listener: ln}
	t.Cleanup(func() {
		ln.Close()
		s.mu.Lock()
		for _, c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	return s
}

// keep closes c at the test's end.
func (s *stubSeed) keep(c net.Conn) {
	s.mu.Lock()
	s.conns = append(s.conns, c)
	s.mu.Unlock()
}

// serve accepts connections until the test ends, keeps each and hands it to f.
func (s *stubSeed) serve(f func(in net.Conn, first bool)) {
	s.wg.Go(func() {
		for first := true; ; first = false {
			in, err := s.Accept()
			if err != nil {
				return
			}
			s.keep(in)
			f(in, first)
		}
	})
}
