package rpc

import "github.com/ringrpc/ringrpc/transport"

// ServerStats is what a Server counts, read by Server.Stats for monitoring. Counts
// run from NewServer; the others are as of the call.
type ServerStats struct {
	// Transport is what the connections and pools count. Its Pools are left nil:
	// Pools below lists them, named.
	Transport transport.ServerStats
	// Expired counts the calls not run because their deadline passed while they
	// waited for a worker; each was answered deadline_exceeded.
	Expired uint64
	// Cancelled counts the calls not run because their caller cancelled them while
	// they waited for a worker; each was answered canceled.
	Cancelled uint64
	// Pools are the server's worker pools: those of request codes in order of code
	// (the shared pool's is RequestCode), then those of ServerOptions.Pools.
	Pools []PoolStats
}

// PoolStats is what one worker pool counts.
type PoolStats struct {
	// Name is the key of ServerOptions.Pools the pool serves: a service name, or a
	// service name, a dot and a method name; or HealthService for the health
	// service's own pool. It is "" for the shared pool, whose Code is RequestCode, and
	// for pools of processors registered on the transport server directly.
	Name string
	transport.PoolStats
}

// ClientStats is what a Client counts, read by Client.Stats. Counts run from
// NewClient; the others are as of the call.
type ClientStats struct {
	// Transport is what the connections count.
	Transport transport.ClientStats
	// Failovers counts the moves of calls to another provider after a failed
	// attempt, sync and async calls together.
	Failovers uint64
}

// Stats returns what the server counts. It takes no lock a call takes, save each
// pool's for an instant.
func (s *Server) Stats() ServerStats {
	ts := s.ts.Stats()
	names := s.poolNames()
	pools := make([]PoolStats, len(ts.Pools))
	for i, p := range ts.Pools {
		pools[i] = PoolStats{PoolStats: p}
		if p.Pool != nil {
			pools[i].Name = names[p.Pool]
		}
	}
	ts.Pools = nil
	return ServerStats{Transport: ts, Expired: s.expired.Load(), Cancelled: s.cancelled.Load(), Pools: pools}
}

// poolNames maps the pools of ServerOptions.Pools to their keys, and the health
// service's to its name.
func (s *Server) poolNames() map[*transport.Pool]string {
	names := map[*transport.Pool]string{s.healthSvc.pool: HealthService}
	for name, svc := range *s.services.Load() {
		if svc.pool != nil {
			names[svc.pool] = name
		}
		for mname, m := range svc.methods {
			if m.pool != nil {
				names[m.pool] = name + "." + mname
			}
		}
	}
	return names
}

// Stats returns what the client counts.
func (c *Client) Stats() ClientStats {
	return ClientStats{Transport: c.tc.Stats(), Failovers: c.failovers.Load()}
}
