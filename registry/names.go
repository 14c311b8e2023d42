package registry

import (
	"fmt"
	"slices"
	"strings"
)

// Preset, Strategy and MemberState print and parse themselves, so that flags
// (flag.TextVar) and JSON use the same words everywhere.

var (
	presetNames   = []string{LAN: "lan", WAN: "wan", Local: "local", Fast: "fast"}
	strategyNames = []string{Ring: "ring", RoundRobin: "round-robin", Random: "random"}
	stateNames    = []string{StateAlive: "alive", StateSyncing: "syncing", StateLeft: "left", StateDoubted: "doubted"}
)

func name[T ~int](names []string, v T, kind string) string {
	if v >= 0 && int(v) < len(names) {
		return names[v]
	}
	return fmt.Sprintf("%s(%d)", kind, int(v))
}

func parse[T ~int](names []string, s, kind string) (T, error) {
	if i := slices.Index(names, strings.ToLower(strings.TrimSpace(s))); i >= 0 {
		return T(i), nil
	}
	return 0, fmt.Errorf("registry: unknown %s %q: use %s", kind, s, strings.Join(names, ", "))
}

// String returns the preset's name: lan, wan, local or fast.
func (p Preset) String() string { return name(presetNames, p, "Preset") }

// MarshalText returns the preset's name.
func (p Preset) MarshalText() ([]byte, error) {
	if p < 0 || int(p) >= len(presetNames) {
		return nil, fmt.Errorf("registry: unknown Preset %d", int(p))
	}
	return []byte(p.String()), nil
}

// UnmarshalText parses a preset's name, in any case.
func (p *Preset) UnmarshalText(b []byte) error {
	v, err := parse[Preset](presetNames, string(b), "preset")
	if err == nil {
		*p = v
	}
	return err
}

// String returns the strategy's name: ring, round-robin or random.
func (s Strategy) String() string { return name(strategyNames, s, "Strategy") }

// MarshalText returns the strategy's name.
func (s Strategy) MarshalText() ([]byte, error) {
	if s < 0 || int(s) >= len(strategyNames) {
		return nil, fmt.Errorf("registry: unknown Strategy %d", int(s))
	}
	return []byte(s.String()), nil
}

// UnmarshalText parses a strategy's name, in any case.
func (s *Strategy) UnmarshalText(b []byte) error {
	v, err := parse[Strategy](strategyNames, string(b), "strategy")
	if err == nil {
		*s = v
	}
	return err
}

// MemberState is what this node knows of a member.
type MemberState int

// The member states.
const (
	// StateAlive: the member answers, and its catalog is known.
	StateAlive MemberState = iota
	// StateSyncing: the member answers; its catalog is on its way.
	StateSyncing
	// StateLeft: the member left or was found dead (in leave events only).
	StateLeft
	// StateDoubted: gossip declared the member dead, and this node is checking
	// with a direct probe before it takes it out of the rings.
	StateDoubted
)

// String returns the state's name: alive, syncing, left or doubted.
func (s MemberState) String() string { return name(stateNames, s, "MemberState") }

// MarshalText returns the state's name.
func (s MemberState) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText parses a state's name.
func (s *MemberState) UnmarshalText(b []byte) error {
	v, err := parse[MemberState](stateNames, string(b), "member state")
	if err == nil {
		*s = v
	}
	return err
}
