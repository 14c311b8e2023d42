package transport

import "sync"

// msgQueue is a stream's inbox: a first-in, first-out queue of messages in chunks
// that go back to a pool shared by every stream once emptied, so that a stream that
// once held many messages keeps no room for them, and one that holds many often
// reuses the same chunks.
type msgQueue struct {
	head, tail *msgChunk
	n          int
}

// msgChunk holds a run of a queue's messages: those in msgs[from:to].
type msgChunk struct {
	msgs     [chunkMsgs]streamMsg
	from, to int
	next     *msgChunk
}

const chunkMsgs = 64

var chunks = sync.Pool{New: func() any { return new(msgChunk) }}

func (q *msgQueue) len() int { return q.n }

func (q *msgQueue) push(m streamMsg) {
	if q.tail == nil || q.tail.to == chunkMsgs {
		c := chunks.Get().(*msgChunk)
		if q.tail == nil {
			q.head = c
		} else {
			q.tail.next = c
		}
		q.tail = c
	}
	q.tail.msgs[q.tail.to] = m
	q.tail.to++
	q.n++
}

// join moves o's messages to the end of q, leaving o empty.
func (q *msgQueue) join(o *msgQueue) {
	if o.n == 0 {
		return
	}
	if q.tail == nil {
		q.head = o.head
	} else {
		q.tail.next = o.head
	}
	q.tail = o.tail
	q.n += o.n
	*o = msgQueue{}
}

// pop takes the oldest message; the queue is not empty.
func (q *msgQueue) pop() streamMsg {
	c := q.head
	m := c.msgs[c.from]
	c.msgs[c.from] = streamMsg{}
	c.from++
	q.n--
	if c.from == c.to {
		q.head = c.next
		if q.head == nil {
			q.tail = nil
		}
		*c = msgChunk{}
		chunks.Put(c)
	}
	return m
}

// clear empties the queue and returns what its messages held of MaxStreamMemory.
func (q *msgQueue) clear() int64 {
	var n int64
	for q.n > 0 {
		n += q.pop().charge
	}
	return n
}

// charged returns what the queue's messages hold of MaxStreamMemory.
func (q *msgQueue) charged() int64 {
	var n int64
	for c := q.head; c != nil; c = c.next {
		for _, m := range c.msgs[c.from:c.to] {
			n += m.charge
		}
	}
	return n
}
