package registry

import (
	"fmt"
	"log/slog"
	"sort"
)

// logRings logs, at INFO, each service whose ring changed in a rebuild: how many
// providers it has now and what share of its keys moved to another provider.
func logRings(log *slog.Logger, old, cur *snapshot) {
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
	}
	for name := range old.services {
		if cur.services[name] == nil {
			log.Info("registry: no provider of a service is left", "service", name)
		}
	}
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
