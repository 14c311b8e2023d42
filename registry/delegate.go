package registry

import (
	"bytes"
	"context"
	"log/slog"
	"strings"

	"github.com/hashicorp/memberlist"
)

// memberlistDelegate adapts memberlist.Delegate to the Registry. memberlist calls it
// from its packet and stream goroutines: every method is quick and never blocks.
type memberlistDelegate struct{ r *Registry }

var _ memberlist.Delegate = memberlistDelegate{}

// NodeMeta returns this node's metadata; it never exceeds limit.
func (d memberlistDelegate) NodeMeta(limit int) []byte {
	b := d.r.localMeta()
	if len(b) > limit {
		return nil
	}
	return b
}

// NotifyMsg receives catalog requests and catalogs sent with SendReliable.
func (d memberlistDelegate) NotifyMsg(msg []byte) { d.r.handleMsg(bytes.Clone(msg)) }

// GetBroadcasts gossips ring digests; catalogs travel over TCP, announced through
// metadata.
func (d memberlistDelegate) GetBroadcasts(overhead, limit int) [][]byte {
	return d.r.digests.GetBroadcasts(overhead, limit)
}

// LocalState offers this node's catalog and the ring digests it knows in push/pull
// exchanges.
func (d memberlistDelegate) LocalState(join bool) []byte {
	return encodeState(d.r.ownCatalog(), d.r.knownDigests())
}

// MergeRemoteState takes the other node's catalog and ring digests from a push/pull
// exchange; memberlist has merged its members first.
func (d memberlistDelegate) MergeRemoteState(buf []byte, join bool) {
	c, digests, err := decodeState(buf)
	if err != nil {
		d.r.log.Warn("registry: undecodable push/pull state", "err", err)
		return
	}
	d.r.applyCatalog(c)
	for _, dg := range digests {
		d.r.noteDigest(dg)
	}
}

// memberlistEvents adapts memberlist.EventDelegate. memberlist calls it from one
// goroutine at a time.
type memberlistEvents struct {
	r   *Registry
	sus *suspicions
}

var _ memberlist.EventDelegate = memberlistEvents{}

// NotifyJoin records a node that joined.
func (e memberlistEvents) NotifyJoin(n *memberlist.Node) {
	e.sus.forget(n.Name) // back from the dead: not a refutation
	e.r.nodeAlive(n, EventJoin)
}

// NotifyUpdate records a node whose metadata changed.
func (e memberlistEvents) NotifyUpdate(n *memberlist.Node) { e.r.nodeAlive(n, EventUpdate) }

// NotifyLeave forgets a node that left or was declared dead.
func (e memberlistEvents) NotifyLeave(n *memberlist.Node) {
	e.sus.forget(n.Name) // settled
	e.r.nodeGone(n)
}

// slogWriter sends memberlist's log lines to slog: errors and warnings at their level,
// its chatty informational lines at Debug. The lines that tell of suspicions go to
// sus, which logs them in the registry's words, and a conflict of names, which the
// registry logs itself, is kept at Debug.
type slogWriter struct {
	log *slog.Logger
	sus *suspicions
}

func (w slogWriter) Write(p []byte) (int, error) {
	line := strings.TrimSpace(string(p))
	level := slog.LevelDebug
	switch {
	case strings.Contains(line, "[ERR]"):
		level = slog.LevelError
	case strings.Contains(line, "[WARN]"):
		level = slog.LevelWarn
	}
	if i := strings.Index(line, "memberlist:"); i >= 0 {
		line = line[i:]
	}
	if w.sus.fromLog(line) || strings.HasPrefix(line, "memberlist: Conflicting address for ") {
		level = slog.LevelDebug
	}
	w.log.Log(context.Background(), level, line)
	return len(p), nil
}
