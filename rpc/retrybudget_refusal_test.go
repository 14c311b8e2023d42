package rpc

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

type budgetOrderKey struct{}

// budgetOrder resolves a call to the addresses its context names, or to its own.
type budgetOrder []string

func (o budgetOrder) Resolve(ctx context.Context, _ *Call, dst []string) ([]string, error) {
	if a, ok := ctx.Value(budgetOrderKey{}).([]string); ok {
		return append(dst, a...), nil
	}
	return append(dst, o...), nil
}

// TestRetryBudgetRefillsOneMovePerTenSuccesses: OPERATIONS.md, "Retry budget": moves
// that cost a provider work take a token each, a successful call gives back 0.1 of
// one, and once half the budget is spent a cluster sees "only about one extra attempt
// per ten successes". A call that was refused a move because the budget was spent
// made no move, yet it takes a token too: ten successes then never earn a move.
func TestRetryBudgetRefillsOneMovePerTenSuccesses(t *testing.T) {
	// A provider whose one worker is held and whose queue of one is full: every
	// further call is answered SYSTEM_BUSY.
	_, bl, busy := startLedger(t, ServerOptions{Workers: 1, QueueSize: 1})
	defer close(bl.gate)
	hold := newLedgerClient(t, ClientOptions{Resolver: StaticAddress(busy)})
	ledgerAsync(hold, context.Background(), 0, 2)
	waitFor(t, bl.started, "the held call")
	ledgerAsync(hold, context.Background(), 0, 2)
	for i := 0; ; i++ {
		_, err := ledgerCall(hold, context.Background(), 0, 0)
		if errors.Is(err, ErrBusy) {
			break
		}
		if i > 100 {
			t.Fatalf("the provider never answered SYSTEM_BUSY: %v", err)
		}
	}

	_, _, good := startLedger(t, ServerOptions{})
	c := newLedgerClient(t, ClientOptions{Resolver: budgetOrder{busy, good},
		Retry: RetryPolicy{MaxTokens: 10, Backoff: time.Millisecond, MaxBackoff: time.Millisecond}})
	bg := context.Background()
	onlyGood := context.WithValue(bg, budgetOrderKey{}, []string{good})

	// Spend the budget: SYSTEM_BUSY moves until a call says the budget is spent.
	var last error
	for range 20 {
		if _, last = ledgerCall(c, bg, 0, 0); last != nil {
			break
		}
	}
	if last == nil || !strings.Contains(last.Error(), "the retry budget is spent") {
		t.Fatalf("once the budget is spent: %v, want it to say so", last)
	}
	// Now one call in eleven meets the busy provider first, after ten successes.
	extra := 0
	for range 5 {
		for range 10 {
			if _, err := ledgerCall(c, onlyGood, 0, 0); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := ledgerCall(c, bg, 0, 0); err == nil {
			extra++
		}
	}
	if extra < 4 {
		t.Errorf("%d of 5 SYSTEM_BUSY calls moved, each after ten successes, want about one extra attempt per ten successes: the calls the spent budget kept from moving took tokens too", extra)
	}
}
