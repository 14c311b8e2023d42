package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/ringrpc/ringrpc/registry"
	"github.com/ringrpc/ringrpc/rpc"
)

var errHelp = errors.New("help shown")

// common are the flags every command shares.
type common struct {
	fs      *flag.FlagSet
	addr    string
	seed    string
	bind    string
	preset  string
	timeout time.Duration
	json    bool
}

func newFlags(name, args string, stderr io.Writer) *common {
	c := &common{fs: flag.NewFlagSet("ringrpc "+name, flag.ContinueOnError)}
	c.fs.SetOutput(stderr)
	c.fs.StringVar(&c.addr, "addr", "", "RPC address of one server (host:port)")
	c.fs.StringVar(&c.seed, "seed", "", "gossip address of a cluster member, to join the cluster (host:port[,host:port])")
	c.fs.StringVar(&c.bind, "bind", "127.0.0.1:0", "gossip address to bind when joining")
	c.fs.StringVar(&c.preset, "preset", "lan", "the cluster's failure-detection preset: fast, local, lan or wan")
	c.fs.DurationVar(&c.timeout, "timeout", 5*time.Second, "give up after this long")
	c.fs.BoolVar(&c.json, "json", false, "print JSON")
	c.fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: ringrpc %s [flags] %s\n\nflags:\n", name, args)
		c.fs.PrintDefaults()
	}
	return c
}

func (c *common) parse(args []string) error {
	if err := c.fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return errHelp
		}
		return usageError{err.Error()}
	}
	return nil
}

// session is a command's connection: a client to one server, or a cluster member.
type session struct {
	ctx    context.Context
	cancel context.CancelFunc
	reg    *registry.Registry
	client *rpc.Client
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func (c *common) connect(needCluster bool) (*session, error) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	s := &session{ctx: ctx, cancel: cancel}
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
		return nil, usageError{"this command needs --seed: it reads the cluster's state"}
	case c.addr != "":
		resolver = rpc.StaticAddress(c.addr)
	default:
		cancel()
		return nil, usageError{"say where: --addr HOST:PORT for one server, or --seed HOST:PORT to join a cluster"}
	}
	client, err := rpc.NewClient(rpc.ClientOptions{Resolver: resolver, Timeout: c.timeout})
	if err != nil {
		s.close()
		return nil, err
	}
	s.client = client
	return s, nil
}

func (c *common) join(ctx context.Context) (*registry.Registry, error) {
	presets := map[string]registry.Preset{"fast": registry.Fast, "local": registry.Local, "lan": registry.LAN, "wan": registry.WAN}
	p, ok := presets[c.preset]
	if !ok {
		return nil, usageError{fmt.Sprintf("unknown --preset %q: use fast, local, lan or wan", c.preset)}
	}
	host, port, err := net.SplitHostPort(c.bind)
	if err != nil {
		return nil, usageError{fmt.Sprintf("--bind %q: %v", c.bind, err)}
	}
	n, _ := strconv.Atoi(port)
	reg, err := registry.Join(ctx, registry.Options{
		NodeName: "", BindAddr: host, BindPort: n, Seeds: strings.Split(c.seed, ","),
		Preset: p, Logger: quiet,
	})
	if err != nil {
		return nil, err
	}
	// Wait until every member's catalog has arrived.
	err = reg.WaitFor(ctx, func(s registry.Snapshot) bool {
		if len(s.Members) < 2 {
			return false
		}
		for _, m := range s.Members {
			if m.State == "syncing" {
				return false
			}
		}
		return true
	})
	if err != nil {
		reg.Close()
		return nil, fmt.Errorf("the cluster at %s did not share its state in time: %w", c.seed, err)
	}
	return reg, nil
}

func (s *session) close() {
	if s.client != nil {
		s.client.Close()
	}
	if s.reg != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
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
// service (any provider when service is empty) in the cluster.
func (s *session) introspect(service string) ([]rpc.ServiceDesc, error) {
	if s.reg == nil {
		return s.client.ListServices(s.ctx)
	}
	addr := ""
	for _, m := range s.reg.Members() {
		if m.RPCAddr == "" {
			continue
		}
		for _, svc := range m.Services {
			if service == "" || svc == service {
				addr = m.RPCAddr
			}
		}
	}
	if addr == "" {
		return nil, fmt.Errorf("no member of the cluster provides %q", service)
	}
	c, err := rpc.NewClient(rpc.ClientOptions{Resolver: rpc.StaticAddress(addr)})
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return c.ListServices(s.ctx)
}
