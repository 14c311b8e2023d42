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

// TestMsgQueueJoin: a queue joined to another comes after its messages, whole.
func TestMsgQueueJoin(t *testing.T) {
	for _, tc := range []struct{ a, b int }{{0, 3}, {3, 0}, {5, chunkMsgs + 2}, {chunkMsgs, chunkMsgs}} {
		var q, o msgQueue
		for i := range tc.a {
			q.push(streamMsg{charge: int64(i)})
		}
		for i := range tc.b {
			o.push(streamMsg{charge: int64(tc.a + i)})
		}
		q.join(&o)
		if o.len() != 0 || q.len() != tc.a+tc.b {
			t.Fatalf("%d joined to %d: %d and %d left", tc.b, tc.a, q.len(), o.len())
		}
		q.push(streamMsg{charge: int64(tc.a + tc.b)})
		for i := range tc.a + tc.b + 1 {
			if m := q.pop(); m.charge != int64(i) {
				t.Fatalf("%d joined to %d: message %d is %d", tc.b, tc.a, i, m.charge)
			}
		}
	}
}
