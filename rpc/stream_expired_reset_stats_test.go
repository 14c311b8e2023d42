package rpc

import (
	"context"
	"iter"
	"strconv"
	"testing"
	"time"
)

// resetFeed's Watch sends nothing and returns once its context ends.
type resetFeed struct{ Feed }

func (resetFeed) Watch(ctx context.Context, topic string, n int) iter.Seq2[int, error] {
	return func(yield func(int, error) bool) { <-ctx.Done() }
}

// TestStreamExpiredResetIsNotUnavailable: docs/OPERATIONS.md, "Call metrics": "On the
// server a stream cut short before its handler returned is not a success, whatever the
// handler returned: canceled when its opener reset it, unavailable when its connection
// went (as in rpc.Server.MethodStats)." A ringrpc opener whose deadline passes resets
// with the expired bit (docs/PROTOCOL.md §9.4, flags 6); its connection stays.
func TestStreamExpiredResetIsNotUnavailable(t *testing.T) {
	opts := ServerOptions{Logger: quiet}
	opts.Transport.Logger = quiet
	s := NewServer(opts)
	if err := registerFeed(s, resetFeed{}); err != nil {
		t.Fatal(err)
	}
	addr := serve(t, s.Serve, s.Close)
	s.MethodStats() // start counting
	p := wireDial(t, addr)
	for i, flags := range []string{"2", "6"} {
		id := int32(7 + 2*i)
		p.send(wireFrame(1, wireHeader(0, id, 4, "interfaceName", feedDesc.Name, "methodName", "Watch",
			"ringrpc.window", "8"), []byte(`["x",0]`)))
		if g := p.next(); g.Code != 7704 {
			t.Fatalf("first frame %v, want the provider's grant", g)
		}
		p.send(wireFrame(1, wireHeader(7703, id+1, 2, "ringrpc.sid", strconv.Itoa(int(id)), "ringrpc.flags", flags), nil))
		r := p.response(id)
		t.Logf("reset with flags %s: the (dropped) response is %v", flags, r)
	}
	var codes map[string]uint64
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		for _, m := range s.MethodStats() {
			if m.Method == "Watch" && m.Calls == 2 {
				codes = m.Codes
			}
		}
		if codes != nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if codes == nil {
		t.Fatal("the two streams were not counted")
	}
	if codes["unavailable"] != 0 || codes["canceled"]+codes["deadline_exceeded"] != 2 {
		t.Fatalf("streams their opener reset (one with the expired bit) counted as %v; the document says canceled, not unavailable (its connection did not go)", codes)
	}
}
