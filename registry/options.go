package registry

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/ringrpc/ringrpc/rpc"
)

// Preset selects memberlist's failure-detection timings.
type Preset int

const (
	// LAN suits a data centre: probes every second, a dead node leaves rings in
	// roughly five to ten seconds. The default.
	LAN Preset = iota
	// WAN suits links with high latency: slower probes and more patience.
	WAN
	// Local suits nodes on one machine: memberlist's local preset.
	Local
	// Fast is for tests and demos on one machine with a handful of nodes: probes
	// every 100 ms, a killed node leaves rings in about half a second. Above a dozen
	// nodes on a small machine its 50 ms probe timeout causes false suspicions: use
	// Local.
	Fast
)

// Strategy chooses the provider of a call among a service's providers.
type Strategy int

const (
	// Ring picks by the call's route key on a consistent-hash ring with bounded
	// loads; the next distinct owners are the failover order. The default.
	Ring Strategy = iota
	// RoundRobin spreads calls over the providers in turn.
	RoundRobin
	// Random picks a provider at random.
	Random
)

// Defaults of Options.
const (
	DefaultPartitionCount    = 271
	DefaultReplicationFactor = 20
	DefaultLoad              = 1.25
	DefaultFailover          = 3
	DefaultIsolation         = 5 * time.Second
	DefaultDebounce          = 50 * time.Millisecond
	DefaultGossipPort        = 7946
	DefaultReadyWait         = 3 * time.Second
)

// RingOptions configures the consistent-hash rings, and are checked by Join.
type RingOptions struct {
	// PartitionCount is the number of partitions keys hash into; at least 2.
	// Default DefaultPartitionCount. A service with more providers than partitions
	// uses one partition per provider instead.
	PartitionCount int
	// ReplicationFactor is the number of virtual nodes per provider; at least 2.
	// Default DefaultReplicationFactor.
	ReplicationFactor int
	// Load bounds a provider's partitions at Load times the average; above 1 and at
	// most 10. Default DefaultLoad.
	Load float64
}

// Options configures a Registry. Only what differs from the defaults needs setting.
type Options struct {
	// NodeName names this node in the cluster; it must be unique: Join fails when
	// the name is alive at another address. Default: the name kept in StateFile when
	// there is one; else, for a node with Server, its RPCAddr, so that a provider
	// restarted at the same address comes back under the same name and takes its
	// keys back; else the host name and the gossip port when BindPort is fixed, or a
	// random suffix.
	NodeName string
	// Cluster names the cluster (memberlist's label): gossip from a node with
	// another Cluster is dropped, so clusters stay apart even when their seeds
	// cross. Every node of a cluster needs the same value. Default "": no label,
	// which only meets other nodes without one.
	Cluster string
	// StateFile, when set, is a file where the node keeps its name, the members
	// it knew and its gossip keyring across restarts (written 0600: it holds the
	// keys). A restarted node rejoins the members it remembers even without Seeds.
	// Default "": nothing is kept.
	StateFile string
	// BindAddr and BindPort are where the gossip listens (UDP and TCP). Defaults,
	// each on its own: 0.0.0.0 and DefaultGossipPort; the Local and Fast presets
	// bind 127.0.0.1 and an ephemeral port. A negative BindPort asks for an
	// ephemeral port with any preset (GossipAddr tells which).
	BindAddr string
	BindPort int
	// AdvertiseAddr and AdvertisePort are what other nodes dial, when they differ
	// from the bind address (NAT, containers).
	AdvertiseAddr string
	AdvertisePort int
	// Seeds are gossip addresses ("host:port") of nodes already in the cluster. None
	// starts a new cluster.
	Seeds []string
	// Preset picks the failure-detection timings; the fields below override them.
	Preset Preset
	// ProbeInterval, ProbeTimeout, SuspicionMult and GossipInterval tune failure
	// detection; zero keeps the preset's value.
	ProbeInterval  time.Duration
	ProbeTimeout   time.Duration
	SuspicionMult  int
	GossipInterval time.Duration
	// SecretKey encrypts gossip with AES (16, 24 or 32 bytes); every node needs it.
	// Keys rotate on a live cluster with InstallKey, UseKey and RemoveKey; with a
	// StateFile the rotated keyring survives restarts.
	SecretKey []byte
	// RejoinInterval is how often a node that misses members it knew, or knows
	// none, tries them and its Seeds again, so that partitions heal by
	// themselves. Default: 500 ms with Fast, 2 s with Local, 5 s with LAN, 15 s
	// with WAN; negative turns rejoining off.
	RejoinInterval time.Duration
	// Server is this node's RPC server, when it provides services: its services,
	// including ones registered later, are advertised at RPCAddr. Registry.Shutdown
	// shuts it down after the leave has spread; Registry.Leave leaves it running.
	Server *rpc.Server
	// RPCAddr is the address consumers dial for Server ("host:port"). Required with
	// Server.
	RPCAddr string
	// Ring configures the consistent-hash rings.
	Ring RingOptions
	// Strategy picks providers for Resolve. Default Ring.
	Strategy Strategy
	// Failover is how many distinct providers a call may try. Default DefaultFailover.
	Failover int
	// Isolation is how long a provider that just failed is tried last, before gossip
	// declares it dead. Default DefaultIsolation; negative disables it.
	Isolation time.Duration
	// ReadyWait is how long a call that finds no provider of its service waits for
	// one to join (wait-for-ready) when its context has no deadline; with a deadline
	// it waits until the deadline. Default DefaultReadyWait, the rpc client's default
	// timeout; negative turns waiting off: such a call fails at once with
	// CodeUnavailable.
	ReadyWait time.Duration
	// Debounce gathers bursts of membership changes into one ring rebuild.
	// Default DefaultDebounce.
	Debounce time.Duration
	// LeavePropagation is how long Shutdown waits after announcing the leave before
	// it stops serving, so that consumers stop routing here first. Default: ten
	// gossip intervals.
	LeavePropagation time.Duration
	// Logger receives membership changes and gossip errors, and the lines of Server
	// and of its connections when their options name no logger of their own
	// (rpc.Server.SetFallbackLogger). Default slog.Default().
	Logger *slog.Logger
}

// resolved holds validated options.
type resolved struct {
	Options
	ml   *memberlist.Config
	kept persisted // what StateFile held
}

func (o Options) resolve() (*resolved, error) {
	r := &resolved{Options: o}
	r.Seeds = append([]string(nil), o.Seeds...)
	r.defaults()
	kept, err := loadState(r.StateFile)
	if err != nil {
		return nil, err
	}
	r.kept = kept
	if err := validateRing(r.Ring); err != nil {
		return nil, err
	}
	if r.Server != nil && r.RPCAddr == "" {
		return nil, fmt.Errorf("registry: registry.Options.RPCAddr is required with registry.Options.Server: consumers dial it")
	}
	switch len(r.SecretKey) {
	case 0, 16, 24, 32:
	default:
		return nil, fmt.Errorf("registry: registry.Options.SecretKey is %d bytes; gossip encryption takes 16, 24 or 32", len(r.SecretKey))
	}
	if len(r.Cluster) > maxClusterLen {
		return nil, fmt.Errorf("registry: registry.Options.Cluster is %d bytes; at most %d", len(r.Cluster), maxClusterLen)
	}
	if kept.Cluster != "" && kept.Cluster != r.Cluster {
		return nil, fmt.Errorf("registry: registry.Options.StateFile %s belongs to a node of cluster %q, not %q: use another file for this cluster", r.StateFile, kept.Cluster, r.Cluster)
	}
	ml, err := r.memberlistConfig()
	if err != nil {
		return nil, err
	}
	if r.NodeName == "" {
		port := ml.BindPort
		if ml.AdvertisePort != 0 {
			port = ml.AdvertisePort
		}
		if r.NodeName, err = defaultName(&r.Options, kept.Name, port); err != nil {
			return nil, err
		}
	}
	ml.Name = r.NodeName
	r.ml = ml
	return r, nil
}

func (r *resolved) defaults() {
	if r.Ring.PartitionCount == 0 {
		r.Ring.PartitionCount = DefaultPartitionCount
	}
	if r.Ring.ReplicationFactor == 0 {
		r.Ring.ReplicationFactor = DefaultReplicationFactor
	}
	if r.Ring.Load == 0 {
		r.Ring.Load = DefaultLoad
	}
	if r.Failover <= 0 {
		r.Failover = DefaultFailover
	}
	if r.Isolation == 0 {
		r.Isolation = DefaultIsolation
	}
	if r.ReadyWait == 0 {
		r.ReadyWait = DefaultReadyWait
	}
	if r.Debounce <= 0 {
		r.Debounce = DefaultDebounce
	}
	if r.Logger == nil {
		r.Logger = slog.Default()
	}
}

// validateRing rejects every configuration that could reach a panic in the ring
// library: with Load above 1, at least two virtual nodes per member and no more
// members than partitions, every partition finds an owner.
func validateRing(o RingOptions) error {
	switch {
	case o.PartitionCount < 2 || o.PartitionCount > 1<<20:
		return fmt.Errorf("registry: registry.Options.Ring.PartitionCount %d is outside 2..1048576", o.PartitionCount)
	case o.ReplicationFactor < 2 || o.ReplicationFactor > 1000:
		return fmt.Errorf("registry: registry.Options.Ring.ReplicationFactor %d is outside 2..1000", o.ReplicationFactor)
	case !(o.Load > 1 && o.Load <= 10):
		return fmt.Errorf("registry: registry.Options.Ring.Load %v must be above 1 (a bound of exactly 1 cannot place every partition) and at most 10", o.Load)
	}
	return nil
}

func (r *resolved) memberlistConfig() (*memberlist.Config, error) {
	var c *memberlist.Config
	switch r.Preset {
	case LAN:
		c = memberlist.DefaultLANConfig()
	case WAN:
		c = memberlist.DefaultWANConfig()
	case Local, Fast:
		c = memberlist.DefaultLocalConfig()
		c.BindAddr, c.BindPort = "127.0.0.1", 0
		// Anti-entropy repairs a missed alive broadcast; on one machine it is cheap.
		c.PushPullInterval = 5 * time.Second
		// Two transmissions of a metadata update often miss one of a handful of
		// nodes, whose view of the others' ring digests then lags until push/pull.
		c.RetransmitMult = 4
		if r.Preset == Fast {
			c.ProbeInterval = 100 * time.Millisecond
			c.ProbeTimeout = 50 * time.Millisecond
			c.SuspicionMult = 2
			c.SuspicionMaxTimeoutMult = 2
			c.GossipInterval = 20 * time.Millisecond
			c.PushPullInterval = 2 * time.Second
			c.TCPTimeout = 500 * time.Millisecond
			c.GossipToTheDeadTime = 2 * time.Second
		}
	default:
		return nil, fmt.Errorf("registry: unknown Preset %d", r.Preset)
	}
	// A restarted node may come back under its name at another address once the old
	// one has been dead this long (memberlist's default never allows it).
	c.DeadNodeReclaimTime = map[Preset]time.Duration{LAN: 10 * time.Second, WAN: 30 * time.Second, Local: 2 * time.Second, Fast: 500 * time.Millisecond}[r.Preset]
	c.Label = r.Cluster
	if r.BindAddr != "" {
		c.BindAddr = r.BindAddr
	}
	switch {
	case r.BindPort < 0:
		c.BindPort = 0 // the system picks
	case r.BindPort > 0:
		c.BindPort = r.BindPort
	}
	c.AdvertiseAddr, c.AdvertisePort = r.AdvertiseAddr, r.AdvertisePort
	if r.ProbeInterval > 0 {
		c.ProbeInterval = r.ProbeInterval
	}
	if r.ProbeTimeout > 0 {
		c.ProbeTimeout = r.ProbeTimeout
	}
	if r.SuspicionMult > 0 {
		c.SuspicionMult = r.SuspicionMult
	}
	if r.GossipInterval > 0 {
		c.GossipInterval = r.GossipInterval
	}
	if c.ProbeTimeout >= c.ProbeInterval {
		return nil, fmt.Errorf("registry: registry.Options.ProbeTimeout %v must be shorter than registry.Options.ProbeInterval %v", c.ProbeTimeout, c.ProbeInterval)
	}
	kr, err := keyring(r.kept.Keys, r.SecretKey)
	if err != nil {
		return nil, err
	}
	c.Keyring = kr
	if r.RejoinInterval == 0 {
		r.RejoinInterval = map[Preset]time.Duration{LAN: 5 * time.Second, WAN: 15 * time.Second, Local: 2 * time.Second, Fast: 500 * time.Millisecond}[r.Preset]
	}
	if r.LeavePropagation <= 0 {
		r.LeavePropagation = 10 * c.GossipInterval
	}
	return c, nil
}
