package transport

import "sync/atomic"

// pendingTable holds the calls of one connection that wait for a response, by opaque.
// It is an open-addressed ring indexed by an opaque's low bits. Opaques are handed out
// in order, so the slot of a new opaque is nearly always free: add, take and remove
// are an index and a compare, cheaper than a map on every call. The table is kept at
// most half full, so a free slot is always a few draws away. Guarded by Conn.pmu.
type pendingTable struct {
	slots  []*call
	n      int
	closed bool
}

const minPendingSlots = 64

func (t *pendingTable) slot(opaque int32) **call {
	return &t.slots[uint32(opaque)&uint32(len(t.slots)-1)]
}

// add gives cl the first opaque drawn from next whose slot is free, and stores it.
func (t *pendingTable) add(cl *call, next *atomic.Int32) {
	if (t.n+1)*2 > len(t.slots) {
		t.resize(max(minPendingSlots, 2*len(t.slots)))
	}
	for {
		cl.opaque = next.Add(1)
		if s := t.slot(cl.opaque); *s == nil {
			*s = cl
			t.n++
			return
		}
	}
}

// resize moves every call to a table of size slots. Growing never makes two calls
// share a slot: their opaques already differed in the old, shorter index.
func (t *pendingTable) resize(size int) {
	old := t.slots
	t.slots = make([]*call, size)
	for _, cl := range old {
		if cl != nil {
			*t.slot(cl.opaque) = cl
		}
	}
}

// take removes and returns the call waiting for opaque, or nil.
func (t *pendingTable) take(opaque int32) *call {
	if len(t.slots) == 0 {
		return nil
	}
	s := t.slot(opaque)
	cl := *s
	if cl == nil || cl.opaque != opaque {
		return nil // late, unknown, or a newer call in the same slot
	}
	*s = nil
	t.n--
	return cl
}

// remove removes cl if it is still pending and reports whether it did.
func (t *pendingTable) remove(cl *call) bool {
	if len(t.slots) == 0 {
		return false
	}
	s := t.slot(cl.opaque)
	if *s != cl {
		return false
	}
	*s = nil
	t.n--
	return true
}

// expired removes the calls whose expiry tick is at most now and appends them to dst.
func (t *pendingTable) expired(now int64, dst []*call) []*call {
	for i, cl := range t.slots {
		if cl != nil && cl.expires != 0 && cl.expires <= now {
			t.slots[i] = nil
			t.n--
			dst = append(dst, cl)
		}
	}
	if t.n == 0 && len(t.slots) > minPendingSlots {
		t.slots = nil // a burst is over: don't keep its table
	}
	return dst
}

// close empties the table, refuses later adds and returns the calls it held.
func (t *pendingTable) close() []*call {
	var all []*call
	for _, cl := range t.slots {
		if cl != nil {
			all = append(all, cl)
		}
	}
	t.slots, t.n, t.closed = nil, 0, true
	return all
}
