package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ringrpc/ringrpc/registry"
	"github.com/ringrpc/ringrpc/rpc"
	"github.com/ringrpc/ringrpc/transport"
)

var errHelp = errors.New("help shown")

// Which flags a command takes, beyond --seed, --bind, --preset, --cluster,
// --gossip-key and --timeout, which every command takes.
const (
	withAddr = 1 << iota // --addr and the TLS flags: the command calls servers
	withJSON             // --json
)

// common are the flags and positional arguments of a command.
type common struct {
	fs        *flag.FlagSet
	args      []string // positional
	addr      string
	seed      string
	bind      string
	preset    registry.Preset
	cluster   string
	gossipKey string
	timeout   time.Duration
	json      bool
	tls       tlsFlags
}

type tlsFlags struct {
	on                        bool
	ca, cert, key, serverName string
}

func newFlags(name, args string, which int, stderr io.Writer) *common {
	c := &common{fs: flag.NewFlagSet("ringrpc "+name, flag.ContinueOnError)}
	c.fs.SetOutput(stderr)
	if which&withAddr != 0 {
		c.fs.StringVar(&c.addr, "addr", "", "RPC address of one server (host:port); not with --seed")
		c.fs.BoolVar(&c.tls.on, "tls", false, "call servers over TLS (implied by --ca, --cert and --server-name)")
		c.fs.StringVar(&c.tls.ca, "ca", "", "PEM file of the CA that signed the servers' certificates (default: the system's)")
		c.fs.StringVar(&c.tls.cert, "cert", "", "PEM file of this client's certificate, for mutual TLS (with --key)")
		c.fs.StringVar(&c.tls.key, "key", "", "PEM file of the key of --cert")
		c.fs.StringVar(&c.tls.serverName, "server-name", "", "name to verify in the servers' certificates (default: the host dialled)")
	}
	c.fs.StringVar(&c.seed, "seed", "", "gossip address of a cluster member, to join the cluster (host:port[,host:port])")
	c.fs.StringVar(&c.bind, "bind", "", "gossip address to bind when joining; port 0 is one the system picks (default 127.0.0.1:0 for a loopback seed, else 0.0.0.0:0)")
	c.fs.TextVar(&c.preset, "preset", registry.LAN, "the cluster's failure-detection preset: fast, local, lan or wan")
	c.fs.StringVar(&c.cluster, "cluster", os.Getenv("RINGRPC_CLUSTER"), "the cluster's name (registry.Options.Cluster); default $RINGRPC_CLUSTER")
	c.fs.StringVar(&c.gossipKey, "gossip-key", "", "the cluster's gossip encryption key (registry.Options.SecretKey), base64 or hex; default $RINGRPC_GOSSIP_KEY")
	c.fs.DurationVar(&c.timeout, "timeout", 5*time.Second, "give up after this long")
	if which&withJSON != 0 {
		c.fs.BoolVar(&c.json, "json", false, "print JSON")
	}
	c.fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: %s\n\nflags (before or after the arguments):\n", strings.TrimSpace("ringrpc "+name+" [flags] "+args))
		c.fs.PrintDefaults()
	}
	return c
}

// parse reads flags anywhere among the arguments, as in "ring SERVICE --seed X";
// everything after "--" is an argument.
func (c *common) parse(args []string) error {
	for {
		if err := c.fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return errHelp
			}
			return usageError{msg: err.Error(), said: true}
		}
		rest := c.fs.Args()
		if len(rest) == 0 {
			break
		}
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			c.args = append(c.args, rest...)
			break
		}
		c.args = append(c.args, rest[0])
		args = rest[1:]
	}
	if c.addr != "" && c.seed != "" {
		return usageError{msg: "--addr and --seed conflict: give --addr to call one server, or --seed to route through the cluster"}
	}
	return nil
}

// session is a command's connection: a client to one server, or a cluster member.
type session struct {
	ctx    context.Context
	cancel context.CancelFunc
	c      *common
	tls    *tls.Config
	reg    *registry.Registry
	client *rpc.Client
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func (c *common) connect(needCluster bool) (*session, error) {
	tlsConf, err := c.tls.config()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	s := &session{ctx: ctx, cancel: cancel, c: c, tls: tlsConf}
	var resolver rpc.Resolver
	switch {
	case c.seed != "":
		reg, err := c.join(ctx)
		if err != nil {
			cancel()
			return nil, err
		}
		s.reg, resolver = reg, reg
	case needCluster:
		cancel()
		return nil, usageError{msg: "this command needs --seed: it reads the cluster's state"}
	case c.addr != "":
		resolver = rpc.StaticAddress(c.addr)
	default:
		cancel()
		return nil, usageError{msg: "say where: --addr HOST:PORT for one server, or --seed HOST:PORT to join a cluster"}
	}
	if s.client, err = s.newClient(resolver); err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

func (s *session) newClient(r rpc.Resolver) (*rpc.Client, error) {
	return rpc.NewClient(rpc.ClientOptions{Resolver: r, Timeout: s.c.timeout, Transport: transport.ClientOptions{
		ConnOptions: transport.ConnOptions{TLS: s.tls, Logger: quiet},
	}})
}

// config builds the client TLS configuration, nil without TLS.
func (f tlsFlags) config() (*tls.Config, error) {
	if !f.on && f.ca == "" && f.cert == "" && f.key == "" && f.serverName == "" {
		return nil, nil
	}
	conf := &tls.Config{ServerName: f.serverName, MinVersion: tls.VersionTLS12}
	if f.ca != "" {
		pem, err := os.ReadFile(f.ca)
		if err != nil {
			return nil, usageError{msg: fmt.Sprintf("--ca: %v", err)}
		}
		conf.RootCAs = x509.NewCertPool()
		if !conf.RootCAs.AppendCertsFromPEM(pem) {
			return nil, usageError{msg: fmt.Sprintf("--ca %s holds no PEM certificate", f.ca)}
		}
	}
	if (f.cert == "") != (f.key == "") {
		return nil, usageError{msg: "--cert and --key go together: the client certificate and its key"}
	}
	if f.cert != "" {
		cert, err := tls.LoadX509KeyPair(f.cert, f.key)
		if err != nil {
			return nil, usageError{msg: fmt.Sprintf("--cert/--key: %v", err)}
		}
		conf.Certificates = []tls.Certificate{cert}
	}
	return conf, nil
}

// observerGossip is the command's own gossip interval: a few rounds are all it
// sends in its short life, and its leave goes out on the next one.
const observerGossip = 20 * time.Millisecond

// join joins the cluster as an observer: a member that serves nothing, named
// ringrpc-cli-..., which leaves without waiting when the command ends.
func (c *common) join(ctx context.Context) (*registry.Registry, error) {
	seeds := strings.Split(c.seed, ",")
	host, port, err := c.bindAddr(seeds[0])
	if err != nil {
		return nil, err
	}
	key, err := c.secretKey()
	if err != nil {
		return nil, err
	}
	var b [4]byte
	rand.Read(b[:])
	reg, err := registry.Join(ctx, registry.Options{
		NodeName: "ringrpc-cli-" + hex.EncodeToString(b[:]), BindAddr: host, BindPort: port,
		Seeds: seeds, Preset: c.preset, Cluster: c.cluster, SecretKey: key, Logger: quiet,
		// A leave is sent with the next gossip round: a short interval lets this
		// member leave in tens of milliseconds instead of the preset's rounds.
		GossipInterval: observerGossip,
	})
	if err != nil {
		for _, seed := range seeds {
			if what := seedNotGossip(seed); what != "" {
				return nil, fmt.Errorf("joining the cluster at %s: %s (%w)", c.seed, what, err)
			}
		}
		return nil, fmt.Errorf("joining the cluster at %s: %w", c.seed, err)
	}
	return reg, nil
}

// bindAddr is --bind, or loopback when the seed is on loopback: a member must be
// reachable by the others, and an unspecified address advertises a private one.
func (c *common) bindAddr(seed string) (string, int, error) {
	bind := c.bind
	if bind == "" {
		bind = "0.0.0.0:0"
		if h, _, err := net.SplitHostPort(seed); err == nil && (h == "localhost" || net.ParseIP(h).IsLoopback()) {
			bind = "127.0.0.1:0"
		}
	}
	host, port, err := net.SplitHostPort(bind)
	if err != nil {
		return "", 0, usageError{msg: fmt.Sprintf("--bind %q: %v", bind, err)}
	}
	n, err := strconv.Atoi(port)
	if err != nil {
		return "", 0, usageError{msg: fmt.Sprintf("--bind %q: the port is not a number", bind)}
	}
	if n == 0 {
		n = -1 // a port the system picks: 0 is the preset's, 7946 with LAN
	}
	return host, n, nil
}

func (c *common) secretKey() ([]byte, error) {
	s := c.gossipKey
	if s == "" {
		s = os.Getenv("RINGRPC_GOSSIP_KEY")
	}
	if s == "" {
		return nil, nil
	}
	k, err := decodeKey(s)
	if err != nil {
		return nil, usageError{msg: "--gossip-key " + err.Error()}
	}
	return k, nil
}

// decodeKey reads a gossip key in hex or base64.
func decodeKey(s string) ([]byte, error) {
	if k, err := hex.DecodeString(s); err == nil {
		return k, nil
	}
	if k, err := base64.StdEncoding.DecodeString(s); err == nil {
		return k, nil
	}
	return nil, errors.New("is neither hex nor base64")
}

func (s *session) close() {
	if s.client != nil {
		s.client.Close()
	}
	if s.reg != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		s.reg.Shutdown(ctx)
		cancel()
	}
	s.cancel()
}

// describe finds a service's descriptor through the introspection service of a
// server that provides it.
func (s *session) describe(service string) (*rpc.ServiceDesc, error) {
	descs, err := s.introspect(service)
	if err != nil {
		return nil, err
	}
	var names []string
	for i := range descs {
		if descs[i].Name == service {
			return &descs[i], nil
		}
		names = append(names, descs[i].Name)
	}
	return nil, fmt.Errorf("unknown service %q; the server provides: %s", service, strings.Join(names, ", "))
}

// introspect lists the services of one server: the --addr one, or a provider of
// service (any provider when service is empty) in the cluster. Through the cluster
// it asks each provider in turn, those gossip has no doubt about first, until one
// answers: a provider that gossip still lists may be gone (a killed process, before
// failure detection finds it) or hung, as a call's provider may, and a call moves on
// then. Each provider but the last gets a share of what remains of --timeout, as a
// call's attempt does (rpc.RetryPolicy.AttemptTimeout), so that one that never
// answers leaves time for the next.
func (s *session) introspect(service string) ([]rpc.ServiceDesc, error) {
	if s.reg == nil {
		descs, err := s.client.ListServices(s.ctx)
		return descs, s.diagnose(s.c.addr, err)
	}
	var first, doubted []registry.Member
	for _, m := range s.reg.Members() {
		if m.RPCAddr == "" || service != "" && !slices.Contains(m.Services, service) || service == "" && len(m.Services) == 0 {
			continue
		}
		if m.State == registry.StateAlive && !m.Leaving {
			first = append(first, m)
		} else {
			doubted = append(doubted, m)
		}
	}
	providers := append(first, doubted...)
	if len(providers) == 0 {
		return nil, fmt.Errorf("no member of the cluster at %s provides %q (members: %d); check the service name with ringrpc services --seed", s.c.seed, service, len(s.reg.Members()))
	}
	var failures []string // one a provider asked
	for i, m := range providers {
		if s.ctx.Err() != nil {
			break
		}
		descs, err := s.listServicesWithin(m.RPCAddr, attemptShare(s.ctx, i+1 == len(providers)))
		if err == nil {
			return descs, nil
		}
		failures = append(failures, fmt.Sprintf("%s at %s: %s", m.Name, m.RPCAddr, failure(err)))
	}
	if len(failures) == 0 {
		return nil, fmt.Errorf("reading the descriptor of %q: --timeout %v ran out before any of its %d providers was asked (joining the cluster took it); raise --timeout", service, s.c.timeout, len(providers))
	}
	what := fmt.Sprintf("of %q", service)
	if service == "" {
		what = "of a service"
	}
	msg := fmt.Sprintf("reading the descriptor %s: none of the %d providers tried answered", what, len(failures))
	if len(failures) < len(providers) {
		msg = fmt.Sprintf("reading the descriptor %s: none of the %d providers tried of %d answered before --timeout %v ran out", what, len(failures), len(providers), s.c.timeout)
	}
	return nil, fmt.Errorf("%s (%s); check that they run and that this host reaches their RPC addresses, or raise --timeout", msg, strings.Join(failures, "; "))
}

// failure is how a provider failed, in a list of providers: a local failure (a
// connect's) without the call's words around it, which name the provider again and
// take it for the only one.
func failure(err error) string {
	if re, ok := err.(*rpc.Error); ok && re.Unwrap() != nil { // not diagnose's, which says more
		return re.Code.String() + ": " + re.Unwrap().Error()
	}
	return err.Error()
}

// minAttemptShare is the shortest share of --timeout given to a provider that is not
// the last: a healthy one may need that long (rpc's minAttemptTimeout).
const minAttemptShare = 100 * time.Millisecond

// attemptShare is how long a provider may take to answer when last is false: half of
// what remains of ctx's deadline, as a call's attempt gets by default, so that the
// next provider has the other half; 0, what remains, for the last provider or when
// half would be under minAttemptShare.
func attemptShare(ctx context.Context, last bool) time.Duration {
	dl, ok := ctx.Deadline()
	if last || !ok {
		return 0
	}
	if share := time.Until(dl) / 2; share >= minAttemptShare {
		return share
	}
	return 0
}

// listServicesWithin lists the services of the server at addr, waiting at most share
// for them when it is positive. A server that gives no answer within its share is
// said to, unprobed: a probe would wait for it again, out of the next provider's time.
func (s *session) listServicesWithin(addr string, share time.Duration) ([]rpc.ServiceDesc, error) {
	ctx, cancel := s.ctx, context.CancelFunc(func() {})
	if share > 0 {
		ctx, cancel = context.WithTimeout(s.ctx, share)
	}
	defer cancel()
	descs, err := s.listServices(ctx, addr)
	if err != nil && ctx.Err() != nil && s.ctx.Err() == nil {
		return nil, fmt.Errorf("no answer within %v, its share of --timeout", share.Round(time.Millisecond))
	}
	return descs, s.diagnose(addr, err)
}

// listServices lists the services of the server at addr.
func (s *session) listServices(ctx context.Context, addr string) ([]rpc.ServiceDesc, error) {
	c, err := s.newClient(rpc.StaticAddress(addr))
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return c.ListServices(ctx)
}
