package rpc

import (
	"context"
	"fmt"
	"slices"
	"testing"
)

// TestStaticListTriesEachProviderOnce: OPERATIONS.md, "Failover and retries": a call
// moves "at most once per provider the resolver named". A StaticList that names an
// address twice sends a call there twice: two SYSTEM_BUSY attempts on one provider,
// and two tokens of the retry budget.
func TestStaticListTriesEachProviderOnce(t *testing.T) {
	n, busy := startBusy(t)
	_, l, good := startLedger(t, ServerOptions{})
	r, err := StaticList(busy, busy, good)
	if err != nil {
		t.Fatal(err)
	}
	c := newLedgerClient(t, ClientOptions{Resolver: r})
	if _, err := ledgerCall(c, context.Background(), 0, 0); err != nil {
		t.Fatal(err)
	}
	if n.Load() != 1 || l.do.Load() != 1 {
		t.Errorf("one call made %d attempts on %s and ran %d times on %s, want one attempt on each provider", n.Load(), busy, l.do.Load(), good)
	}
}

// TestDistinctAddresses: a resolver's list keeps each address's first place only,
// the long lists' way too.
func TestDistinctAddresses(t *testing.T) {
	many := make([]string, 40)
	for i := range many {
		many[i] = fmt.Sprint("h", i%20) // each twice, the second time 20 later
	}
	for _, c := range []struct {
		in, want []string
	}{
		{nil, nil},
		{[]string{"a"}, []string{"a"}},
		{[]string{"a", "a"}, []string{"a"}},
		{[]string{"a", "b", "a", "c", "b"}, []string{"a", "b", "c"}},
		{many, many[:20]},
	} {
		in := slices.Clone(c.in)
		if got := distinct(in); !slices.Equal(got, c.want) {
			t.Errorf("distinct(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
