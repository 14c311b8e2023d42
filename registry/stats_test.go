package registry

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestStats: in a 3-node cluster every node counts three alive members and the
// rebuilds of its ring; a provider gone is one more rebuild, and a failure report
// isolates one provider.
func TestStats(t *testing.T) {
	nodes, _ := cluster(t, 3)
	for _, n := range nodes {
		providersOf(t, n.reg, whoDesc.Name, 3)
	}
	aliveMembers(t, nodes[0].reg, 3)
	st := nodes[0].reg.Stats()
	if st.Alive != 3 || st.Syncing != 0 || st.Doubted != 0 || st.Leaving != 0 {
		t.Fatalf("members: %+v, want 3 alive", st)
	}
	if st.RingRebuilds == 0 || st.Isolated != 0 {
		t.Fatalf("stats %+v: want ring rebuilds counted and nothing isolated", st)
	}
	nodes[2].stop()
	providersOf(t, nodes[0].reg, whoDesc.Name, 2)
	aliveMembers(t, nodes[0].reg, 2)
	after := nodes[0].reg.Stats()
	if after.RingRebuilds <= st.RingRebuilds || after.Alive != 2 {
		t.Fatalf("after a provider went: %+v, before %+v: want one more rebuild and 2 alive", after, st)
	}
	nodes[0].reg.ReportFailure(nodes[1].reg.Snapshot().Services[whoDesc.Name][0].RPCAddr, errors.New("refused"))
	if n := nodes[0].reg.Stats().Isolated; n != 1 {
		t.Fatalf("%d providers isolated, want 1", n)
	}
}

// aliveMembers waits until reg sees n members, all alive: under load, gossip may doubt
// a member for a while before a direct probe clears it.
func aliveMembers(t *testing.T, reg *Registry, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := reg.WaitFor(ctx, func(s Snapshot) bool {
		alive := 0
		for _, m := range s.Members {
			if m.State == StateAlive {
				alive++
			}
		}
		return alive == n && len(s.Members) == n
	})
	if err != nil {
		t.Fatalf("%s never saw %d members alive: %v (sees %v)", reg.Name(), n, err, reg.Members())
	}
}
