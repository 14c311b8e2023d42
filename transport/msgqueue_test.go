package transport

import "testing"

// TestMsgQueue: messages come out in the order they went in, across chunks, and
// clear gives back what those left held.
func TestMsgQueue(t *testing.T) {
	var q msgQueue
	next, want := 0, 0
	for _, step := range []struct{ push, pop int }{{1, 1}, {chunkMsgs + 3, 2}, {2 * chunkMsgs, chunkMsgs + 1}, {0, 5}} {
		for range step.push {
			q.push(streamMsg{charge: int64(next)})
			next++
		}
		for range step.pop {
			if m := q.pop(); m.charge != int64(want) {
				t.Fatalf("popped %d, want %d", m.charge, want)
			}
			want++
		}
		if q.len() != next-want {
			t.Fatalf("len %d, want %d", q.len(), next-want)
		}
	}
	var left int64
	for i := want; i < next; i++ {
		left += int64(i)
	}
	if got := q.charged(); got != left {
		t.Fatalf("charged %d, want %d", got, left)
	}
	if got := q.clear(); got != left || q.len() != 0 || q.head != nil || q.tail != nil {
		t.Fatalf("clear gave back %d, want %d, and left %d messages", got, left, q.len())
	}
	q.push(streamMsg{charge: 7})
	if m := q.pop(); m.charge != 7 {
		t.Fatalf("after clear: popped %d", m.charge)
	}
}
