package registry

import (
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

// logRings logs, at INFO, each service whose ring changed in a rebuild: how many
// providers it has now and what share of its keys moved to another provider. It
// returns how many rings changed, those that appeared or went included.
func logRings(log *slog.Logger, old, cur *snapshot) (changed int) {
	names := make([]string, 0, len(cur.services))
	for name := range cur.services {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		sr := cur.services[name]
		before := old.services[name]
		if before != nil && before.sum == sr.sum {
			continue
		}
		log.Info("registry: ring rebuilt", "service", name, "providers", len(sr.providers), "moved", movedShare(before, sr))
		changed++
	}
	for name := range old.services {
		if cur.services[name] == nil {
			log.Info("registry: no provider of a service is left", "service", name)
			changed++
		}
	}
	return changed
}

// movedShare is the share of the key space whose owner differs between two rings, as
// a percentage; every key moves when a service appears. A ring of one provider has a
// single partition that owns every key.
func movedShare(old, cur *serviceRing) string {
	if old == nil || cur.partCount == 0 {
		return "100%"
	}
	fine, other := cur, old
	if old.partCount > cur.partCount {
		fine, other = old, cur
	}
	if other.partCount != 1 && other.partCount != fine.partCount {
		return "100%" // rings of different partition counts: no partition matches
	}
	moved := 0
	for p := range fine.parts {
		q := p
		if other.partCount == 1 {
			q = 0
		}
		if partitionOwner(fine, p) != partitionOwner(other, q) {
			moved++
		}
	}
	return fmt.Sprintf("%.1f%%", 100*float64(moved)/float64(fine.partCount))
}

func partitionOwner(sr *serviceRing, p int) string {
	if p >= len(sr.parts) || len(sr.parts[p]) == 0 {
		return ""
	}
	return sr.providers[sr.parts[p][0]].node
}

// suspicions logs, at INFO, the members this node suspects and how the suspicions
// end. memberlist tells of them only in its log lines, which slogWriter hands here,
// and through the acks of its probes: a probe of a suspect carries the suspicion, so
// an ack from it means that it is alive and refutes it.
type suspicions struct {
	log  *slog.Logger
	self string // this node's name
	// stale is how long after a suspicion an ack no longer counts as its refutation:
	// memberlist has settled it by then, one way or the other.
	stale time.Duration
	mu    sync.Mutex
	nodes map[string]time.Time // suspected members, and since when
}

var _ memberlist.PingDelegate = (*suspicions)(nil)

func newSuspicions(log *slog.Logger, c *memberlist.Config) *suspicions {
	// memberlist's longest suspicion, for clusters of up to a thousand members.
	longest := time.Duration(c.SuspicionMaxTimeoutMult*c.SuspicionMult*3) * c.ProbeInterval
	return &suspicions{log: log, self: c.Name, stale: longest + c.ProbeInterval, nodes: map[string]time.Time{}}
}

// memberlist's log lines that tell of suspicions (memberlist v0.5).
const (
	lineSuspect = "memberlist: Suspect "                   // <node> has failed, no acks received
	lineFailed  = "memberlist: Marking "                   // <node> as failed, suspect timeout reached
	lineRefuted = "memberlist: Refuting a suspect message" // (from: <node>)
)

// fromLog follows a memberlist log line; it reports whether the line told of a
// suspicion, which the registry then logs in its own words.
func (s *suspicions) fromLog(line string) bool {
	switch {
	case strings.HasPrefix(line, lineSuspect):
		node, _, _ := strings.Cut(strings.TrimPrefix(line, lineSuspect), " has failed")
		s.mu.Lock()
		_, again := s.nodes[node]
		s.nodes[node] = time.Now()
		s.mu.Unlock()
		if !again {
			s.log.Info("registry: member suspected: it did not answer this node's probes", "node", node)
		}
	case strings.HasPrefix(line, lineFailed):
		node, _, _ := strings.Cut(strings.TrimPrefix(line, lineFailed), " as failed")
		s.mu.Lock()
		delete(s.nodes, node)
		s.mu.Unlock()
		// The registry logs what follows: the member is checked, then fails or stays.
	case strings.HasPrefix(line, lineRefuted):
		from := strings.TrimSuffix(strings.TrimPrefix(line, lineRefuted+" (from: "), ")")
		if from == s.self || from == "" {
			// Learnt in a state exchange, where memberlist names this node.
			s.log.Info("registry: this node was suspected and refuted it")
			break
		}
		s.log.Info("registry: this node was suspected and refuted it", "by", from)
	default:
		return false
	}
	return true
}

// forget drops a suspicion that memberlist settled: the member left, was declared
// dead, or joined again. s may be nil.
func (s *suspicions) forget(node string) {
	s.mu.Lock()
	delete(s.nodes, node)
	s.mu.Unlock()
}

// AckPayload adds nothing to this node's acks.
func (s *suspicions) AckPayload() []byte { return nil }

// NotifyPingComplete hears that a member answered this node's probe: a suspect that
// answers refutes the suspicion.
func (s *suspicions) NotifyPingComplete(other *memberlist.Node, _ time.Duration, _ []byte) {
	s.mu.Lock()
	since, ok := s.nodes[other.Name]
	delete(s.nodes, other.Name)
	s.mu.Unlock()
	if ok && time.Since(since) < s.stale {
		s.log.Info("registry: suspected member answered again: the suspicion is refuted", "node", other.Name, "after", time.Since(since).Round(time.Millisecond))
	}
}
