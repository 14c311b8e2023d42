package transport

import (
	"fmt"
	"time"
)

// Defaults of the heartbeat options: a peer that stops answering while calls wait on
// it is found within DefaultHeartbeatInterval + DefaultHeartbeatTimeout plus two ticks
// of the connection's reaper.
const (
	DefaultHeartbeatInterval = 5 * time.Second
	DefaultHeartbeatTimeout  = 5 * time.Second
)

// heartbeat is the resolved heartbeat configuration; interval 0 turns it off.
type heartbeat struct {
	interval time.Duration
	timeout  time.Duration
}

func newHeartbeat(o ConnOptions) heartbeat {
	if o.HeartbeatInterval < 0 {
		return heartbeat{}
	}
	return heartbeat{
		interval: orDefault(o.HeartbeatInterval, DefaultHeartbeatInterval),
		timeout:  orDefault(o.HeartbeatTimeout, DefaultHeartbeatTimeout),
	}
}

// silence is the reaper's watch of a peer while calls wait on it. It lives as long as
// the connection, so that calls that come one after another, each ending before a
// ping would have gone out, still add up to a silence. Times are since clockBase.
type silence struct {
	since  time.Duration // when the connection began: it had read nothing before
	pingAt time.Duration // when the ping for the current silence was queued; 0: none
}

type verdict int

const (
	peerAlive verdict = iota
	peerPing          // silent for an interval: ask for a frame
	peerDead          // pinged, and silent for the timeout since the ping
)

// judge decides what the reaper does, given the time now and the time the last read
// returned. A peer is pinged after an interval of silence and declared dead when
// nothing came for the timeout after the ping was queued: a ping is always given the
// whole timeout, however late the reaper was for it.
func (s *silence) judge(hb heartbeat, now, lastRead time.Duration) verdict {
	last := max(lastRead, s.since)
	if s.pingAt != 0 && last > s.pingAt {
		s.pingAt = 0 // a frame came after the ping
	}
	switch {
	case hb.interval <= 0:
		return peerAlive
	case s.pingAt != 0 && now-s.pingAt >= hb.timeout && now-last >= hb.interval+hb.timeout:
		return peerDead
	case s.pingAt == 0 && now-last >= hb.interval:
		return peerPing
	}
	return peerAlive
}

// watchPeer runs on every reaper tick that finds a call waiting: it pings a silent
// peer and closes the connection when the ping brings nothing back, failing its
// pending calls at once.
// It does nothing while the reader waits for memory: the peer's frames, which would
// prove it alive, wait unread, and the wait is bounded by IdleTimeout.
func (c *Conn) watchPeer(s *silence) {
	if c.memWait.Load() {
		return
	}
	now := sinceBase()
	last := time.Duration(c.lastRead.Load())
	switch s.judge(c.cfg.hb, now, last) {
	case peerPing:
		if c.ping() {
			s.pingAt = now
		}
	case peerDead:
		silent := now - max(last, s.since)
		c.closeWithError(fmt.Errorf("%w: %s: no frame from the peer for %v: presumed dead (transport.ConnOptions.HeartbeatInterval %v + HeartbeatTimeout %v): check the peer's host and the network, or raise transport.ConnOptions.HeartbeatTimeout for a slow link",
			ErrConnectionLost, c.addr, silent.Round(time.Millisecond), c.cfg.hb.interval, c.cfg.hb.timeout))
	}
}

// busy reports whether calls wait on the connection in either direction, or output
// waits to be written: it is then never closed as idle.
func (c *Conn) busy() bool {
	return c.Pending() > 0 || c.flow.inflight.Load() > 0 || c.w.hasOutput()
}
