package transport

import (
	"fmt"
	"time"
)

// Defaults of the heartbeat options: a peer that stops answering while calls wait on
// it is found within DefaultHeartbeatInterval + DefaultHeartbeatTimeout plus one tick of
// the connection's reaper.
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

// silence is the reaper's watch of a peer while calls wait on it. Times are since
// clockBase.
type silence struct {
	since  time.Duration // when the watch began: silence before calls waited is no sign
	pingAt time.Duration // when the ping for the current silence went out; 0: none
}

type verdict int

const (
	peerAlive verdict = iota
	peerPing          // silent for an interval: ask for a frame
	peerDead          // pinged, and silent for the interval and the timeout
)

// judge decides what the reaper does, given the time now and the time the last read
// returned. Silence is counted from the last read, not from the ping, so that a tick
// late for the ping does not delay the verdict: a dead peer is found at the first
// tick after interval + timeout of silence.
func (s *silence) judge(hb heartbeat, now, lastRead time.Duration) verdict {
	last := max(lastRead, s.since)
	if s.pingAt != 0 && last > s.pingAt {
		s.pingAt = 0 // a frame came after the ping
	}
	switch {
	case hb.interval <= 0:
		return peerAlive
	case s.pingAt != 0 && now-last >= hb.interval+hb.timeout:
		return peerDead
	case s.pingAt == 0 && now-last >= hb.interval:
		s.pingAt = now
		return peerPing
	}
	return peerAlive
}

// watchPeer runs on every reaper tick: it pings a silent peer and closes the
// connection when the ping brings nothing back, failing its pending calls at once.
func (c *Conn) watchPeer(s *silence) {
	now := sinceBase()
	last := time.Duration(c.lastRead.Load())
	switch s.judge(c.cfg.hb, now, last) {
	case peerPing:
		c.ping()
	case peerDead:
		silent := now - max(last, s.since)
		c.closeWithError(fmt.Errorf("%w: %s: no frame from the peer for %v: presumed dead (ConnOptions.HeartbeatInterval %v + HeartbeatTimeout %v): check the peer's host and the network, or raise HeartbeatTimeout for a slow link",
			ErrConnectionLost, c.addr, silent.Round(time.Millisecond), c.cfg.hb.interval, c.cfg.hb.timeout))
	}
}

// busy reports whether calls wait on the connection in either direction: it is then
// never closed as idle.
func (c *Conn) busy() bool {
	return c.Pending() > 0 || c.inbound.busy()
}
