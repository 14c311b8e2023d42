package transport

import (
	"math"
	"math/rand/v2"
	"sync/atomic"
	"testing"
)

// TestPendingTable checks the table against a map under random adds, takes, removes
// and expiries, with the opaque counter starting at several points, including just
// before it wraps.
func TestPendingTable(t *testing.T) {
	tests := []struct {
		name  string
		start int32
		live  int // calls kept pending at once
	}{
		{"small", 0, 10},
		{"grows", 0, 5000},
		{"wraps", math.MaxInt32 - 100, 300},
		{"negative", -50, 100},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var tab pendingTable
			var next atomic.Int32
			next.Store(tc.start)
			want := map[int32]*call{}
			r := rand.New(rand.NewPCG(1, uint64(tc.live)))
			var tick int64
			for step := range 20 * tc.live {
				switch op := r.IntN(10); {
				case op < 5 || len(want) == 0:
					cl := &call{}
					if r.IntN(4) == 0 {
						cl.expires = tick + 1 + int64(r.IntN(5))
					}
					tab.add(cl, &next)
					if _, dup := want[cl.opaque]; dup {
						t.Fatalf("step %d: opaque %d given twice", step, cl.opaque)
					}
					want[cl.opaque] = cl
				case op < 8:
					op := anyKey(want, r)
					if tab.take(op+int32(len(tab.slots))) != nil && len(tab.slots) > 0 {
						// Another opaque in the same slot must never match.
						t.Fatalf("step %d: took opaque %d for %d", step, op+int32(len(tab.slots)), op)
					}
					if got := tab.take(op); got != want[op] {
						t.Fatalf("step %d: take(%d) = %p, want %p", step, op, got, want[op])
					}
					delete(want, op)
					if tab.take(op) != nil {
						t.Fatalf("step %d: opaque %d taken twice", step, op)
					}
				case op < 9:
					op := anyKey(want, r)
					if !tab.remove(want[op]) {
						t.Fatalf("step %d: remove(%d) failed", step, op)
					}
					if tab.remove(want[op]) {
						t.Fatalf("step %d: removed %d twice", step, op)
					}
					delete(want, op)
				default:
					tick++
					for _, cl := range tab.expired(tick, nil) {
						if cl.expires == 0 || cl.expires > tick || want[cl.opaque] != cl {
							t.Fatalf("step %d: expired %+v at tick %d", step, cl, tick)
						}
						delete(want, cl.opaque)
					}
					for _, cl := range want {
						if cl.expires != 0 && cl.expires <= tick {
							t.Fatalf("step %d: call %d due at %d still pending at %d", step, cl.opaque, cl.expires, tick)
						}
					}
				}
				if tab.n != len(want) {
					t.Fatalf("step %d: n = %d, want %d", step, tab.n, len(want))
				}
				if len(want) > tc.live {
					for op := range want {
						tab.take(op)
						delete(want, op)
						break
					}
				}
				if tab.n*2 > len(tab.slots) && tab.n > 0 {
					t.Fatalf("step %d: %d calls in %d slots: more than half full", step, tab.n, len(tab.slots))
				}
			}
			all := tab.close()
			if len(all) != len(want) {
				t.Fatalf("close returned %d calls, want %d", len(all), len(want))
			}
			if !tab.closed || tab.n != 0 {
				t.Fatal("closed table not empty")
			}
		})
	}
}

func anyKey(m map[int32]*call, r *rand.Rand) int32 {
	i := r.IntN(len(m))
	for k := range m {
		if i == 0 {
			return k
		}
		i--
	}
	panic("unreachable")
}

// A call that stays pending while the counter comes round to its slot again is
// skipped, not overwritten.
func TestPendingTableLongCall(t *testing.T) {
	var tab pendingTable
	var next atomic.Int32
	long := &call{}
	tab.add(long, &next)
	for range 10 * minPendingSlots {
		cl := &call{}
		tab.add(cl, &next)
		if cl.opaque == long.opaque || tab.take(cl.opaque) != cl {
			t.Fatalf("call %d clashed with the long call %d", cl.opaque, long.opaque)
		}
	}
	if tab.take(long.opaque) != long {
		t.Fatal("the long call was lost")
	}
}

func BenchmarkPendingTable(b *testing.B) {
	var tab pendingTable
	var next atomic.Int32
	calls := make([]call, 100)
	for i := range calls {
		tab.add(&calls[i], &next)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		cl := &calls[i%len(calls)]
		tab.take(cl.opaque)
		tab.add(cl, &next)
		i++
	}
}
