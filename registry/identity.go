package registry

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

// Identity: the node's name, its cluster, and what it keeps across restarts.

// maxClusterLen is memberlist's limit on a label.
const maxClusterLen = 255

// persisted is the content of Options.StateFile.
type persisted struct {
	Name    string       `json:"name"`
	Cluster string       `json:"cluster,omitempty"`
	Members []knownPeer  `json:"members,omitempty"`
	Keys    []jsonKeyHex `json:"keys,omitempty"` // the primary first
}

// knownPeer is a member this node has seen alive, to rejoin after a partition.
type knownPeer struct {
	Name string    `json:"name"`
	Addr string    `json:"addr"` // gossip host:port
	Seen time.Time `json:"seen"`
}

// jsonKeyHex is a gossip key, hex in the file.
type jsonKeyHex []byte

func (k jsonKeyHex) MarshalText() ([]byte, error) { return []byte(hex.EncodeToString(k)), nil }

func (k *jsonKeyHex) UnmarshalText(b []byte) error {
	v, err := hex.DecodeString(string(b))
	*k = v
	return err
}

// loadState reads the state file; a missing file is an empty state.
func loadState(path string) (persisted, error) {
	var p persisted
	if path == "" {
		return p, nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return p, nil
	}
	if err != nil {
		return p, fmt.Errorf("registry: reading registry.Options.StateFile: %w", err)
	}
	if err := json.Unmarshal(b, &p); err != nil {
		return p, fmt.Errorf("registry: registry.Options.StateFile %s is not a registry state file (%v): fix or remove it", path, err)
	}
	return p, nil
}

// stateWriter writes the state file atomically; one write at a time.
type stateWriter struct {
	mu   sync.Mutex
	path string
	last []byte
}

func (w *stateWriter) write(p persisted) error {
	if w.path == "" {
		return nil
	}
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if slices.Equal(b, w.last) {
		return nil
	}
	tmp, err := os.CreateTemp(filepath.Dir(w.path), filepath.Base(w.path)+".*")
	if err != nil {
		return fmt.Errorf("registry: writing registry.Options.StateFile: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(append(b, '\n'))
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), w.path)
	}
	if err != nil {
		return fmt.Errorf("registry: writing registry.Options.StateFile: %w", err)
	}
	w.last = b
	return nil
}

// defaultName is the node's name when Options.NodeName is empty: see its doc.
func defaultName(o *Options, kept string, gossipPort int) (string, error) {
	switch {
	case kept != "":
		return kept, nil
	case o.Server != nil && o.RPCAddr != "":
		return o.RPCAddr, nil
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "node"
	}
	if gossipPort != 0 {
		return net.JoinHostPort(host, strconv.Itoa(gossipPort)), nil
	}
	var b [3]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return host + "-" + hex.EncodeToString(b[:]), nil
}

// keyring builds the gossip keyring: the kept one, primary first, with SecretKey
// added; or SecretKey alone; nil without keys.
func keyring(kept []jsonKeyHex, secret []byte) (*memberlist.Keyring, error) {
	var keys [][]byte
	for _, k := range kept {
		keys = append(keys, k)
	}
	if len(secret) > 0 && !slices.ContainsFunc(keys, func(k []byte) bool { return slices.Equal(k, secret) }) {
		keys = append(keys, secret)
	}
	if len(keys) == 0 {
		return nil, nil
	}
	kr, err := memberlist.NewKeyring(keys, keys[0])
	if err != nil {
		return nil, fmt.Errorf("registry: gossip keyring: %w", err)
	}
	return kr, nil
}

// conflictWatch adapts memberlist.ConflictDelegate: it records a node alive under
// this node's name at another address. memberlist calls it from its packet and
// stream goroutines, and from Join; it never blocks.
type conflictWatch struct{ r *Registry }

var _ memberlist.ConflictDelegate = conflictWatch{}

// NotifyConflict records, when the name is ours, the other node's address.
func (c conflictWatch) NotifyConflict(existing, other *memberlist.Node) {
	r := c.r
	if existing.Name != r.opts.NodeName {
		r.log.Warn("registry: two nodes claim one name", "node", existing.Name, "known", existing.Address(), "other", other.Address())
		return
	}
	r.mu.Lock()
	if r.conflict.addr == "" {
		r.conflict = nameHolder{other.Address(), true}
	}
	r.mu.Unlock()
	r.log.Warn("registry: another node is alive under this node's name", "node", existing.Name, "other", other.Address())
}

var _ memberlist.MergeDelegate = conflictWatch{}

// NotifyMerge records an entry for this node's name at another address in a state
// exchanged with another member, whatever that entry's state. memberlist tells
// NotifyConflict only of an alive one; a run killed moments before is still held
// suspected or dead, and the cluster takes no other address for the name until it
// reclaims it. The merge always goes on.
func (c conflictWatch) NotifyMerge(peers []*memberlist.Node) error {
	r := c.r
	self := r.selfAt.Load()
	if self == nil {
		return nil // not this node's exchange yet: Join has not begun
	}
	for _, p := range peers {
		if p.Name == r.opts.NodeName && p.Address() != *self {
			r.mu.Lock()
			if r.conflict.addr == "" || !r.conflict.alive && p.State == memberlist.StateAlive {
				r.conflict = nameHolder{p.Address(), p.State == memberlist.StateAlive}
			}
			r.mu.Unlock()
		}
	}
	return nil
}

// nameHolder is another node seen under this node's name: its address, and whether
// the cluster holds it alive.
type nameHolder struct {
	addr  string
	alive bool
}

// takeConflict returns and clears the other node seen under this node's name.
func (r *Registry) takeConflict() nameHolder {
	r.mu.Lock()
	defer r.mu.Unlock()
	other := r.conflict
	r.conflict = nameHolder{}
	return other
}

// answersAt reports whether a gossip address answers a TCP connect within a probe
// interval.
func (r *Registry) answersAt(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, r.opts.ml.ProbeInterval)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// nameConflict is the error of a Join whose name another node holds.
func (r *Registry) nameConflict(other, why string) error {
	return fmt.Errorf("registry: the name %q is alive at %s in the cluster%s, and this node is at %s: give this node another registry.Options.NodeName, or stop the other one and join again once the cluster has found it dead",
		r.opts.NodeName, other, why, r.self.Address())
}
