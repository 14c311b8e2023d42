package transport

// Handling returns the number of requests from the peer that this side took and has
// not answered yet: waiting for a worker or being handled. A request counts as
// answered just after its response is queued or written, so a caller may hold its
// response a moment before this count drops.
func (c *Conn) Handling() int { return int(c.flow.inflight.Load()) }

// Conns returns the client's open connections, for tools that show them.
func (cl *Client) Conns() []*Conn {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	out := make([]*Conn, 0, len(cl.conns))
	for c := range cl.conns {
		out = append(out, c)
	}
	return out
}
