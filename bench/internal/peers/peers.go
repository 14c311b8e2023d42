// Package peers lists the RPC stacks compared, the calls made and the server
// process that serves one stack.
package peers

import (
	"context"
	"fmt"
	"net"
	"strings"

	"github.com/ringrpc/ringrpc/bench/internal/gobpeer"
	"github.com/ringrpc/ringrpc/bench/internal/greeter"
	"github.com/ringrpc/ringrpc/bench/internal/grpcpeer"
	"github.com/ringrpc/ringrpc/bench/internal/rawpeer"
	"github.com/ringrpc/ringrpc/bench/internal/ringpeer"
)

// Client is a connected client of one peer.
type Client interface {
	greeter.Greeter
	Close() error
}

// Peer is one RPC stack: how to serve greeter.Impl with it and how to call it.
type Peer struct {
	Name string
	// Serve serves on ln until stop is called.
	Serve func(ln net.Listener) (stop func(), err error)
	// Dial returns a client that uses one connection to addr.
	Dial func(addr string) (Client, error)
	// Apart marks a peer whose libraries change how a whole process runs (Kitex's
	// do): it is linked only into a build with the tag kitex, which measures its cells
	// in processes of their own, so that it slows no other peer. Serve and Dial are
	// nil in the other builds.
	Apart bool
}

// KitexName is the name of the Kitex peer.
const KitexName = "Kitex+Thrift"

// All lists the peers, the yardstick and the ceiling last.
var All = []Peer{
	{Name: "ringrpc", Serve: ringpeer.Serve, Dial: dial(ringpeer.Dial)},
	{Name: "net/rpc+gob", Serve: gobpeer.Serve, Dial: dial(gobpeer.Dial)},
	{Name: "gRPC+protobuf", Serve: grpcpeer.Serve, Dial: dial(grpcpeer.Dial)},
	{Name: KitexName, Apart: true}, // Serve and Dial set by kitex.go
	{Name: "raw TCP", Serve: rawpeer.Serve, Dial: dial(rawpeer.Dial)},
}

func dial[C Client](d func(string) (C, error)) func(string) (Client, error) {
	return func(addr string) (Client, error) { return d(addr) }
}

// Select returns the peers named in a comma-separated list, matched by the start of
// their name in any case; "all" or "" selects every peer.
func Select(list string) ([]Peer, error) {
	if list == "" || list == "all" {
		return All, nil
	}
	var out []Peer
	for _, name := range strings.Split(list, ",") {
		p, err := Lookup(strings.TrimSpace(name))
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// Lookup returns the peer whose name starts with name, in any case.
func Lookup(name string) (Peer, error) {
	for _, p := range All {
		if name != "" && strings.HasPrefix(strings.ToLower(p.Name), strings.ToLower(name)) {
			return p, nil
		}
	}
	return Peer{}, fmt.Errorf("no peer named %q", name)
}

// Workload is a call the benchmark makes, with its check of the result.
type Workload struct {
	Name string
	// Call makes one call on c and checks the result.
	Call func(ctx context.Context, c Client) error
}

// Workloads lists the calls measured.
var Workloads = []Workload{
	{Name: "hello", Call: callHello},
	{Name: "echo", Call: callEcho},
}

func callHello(ctx context.Context, c Client) error {
	s, err := c.SayHello(ctx, greeter.HelloA, greeter.HelloB)
	if err == nil && s != greeter.HelloReply {
		err = fmt.Errorf("SayHello returned %q, want %q", s, greeter.HelloReply)
	}
	return err
}

var sample = greeter.Sample()

func callEcho(ctx context.Context, c Client) error {
	p, err := c.Echo(ctx, &sample)
	if err == nil && !greeter.Equal(&p, &sample) {
		err = fmt.Errorf("the echo returned %+v, want %+v", p, sample)
	}
	return err
}

// SelectWorkloads returns the workloads named in a comma-separated list; "all" or ""
// selects both.
func SelectWorkloads(list string) ([]Workload, error) {
	if list == "" || list == "all" {
		return Workloads, nil
	}
	var out []Workload
	for _, name := range strings.Split(list, ",") {
		w, err := lookupWorkload(strings.TrimSpace(name))
		if err != nil {
			return nil, err
		}
		out = append(out, w)
	}
	return out, nil
}

func lookupWorkload(name string) (Workload, error) {
	for _, w := range Workloads {
		if w.Name == name {
			return w, nil
		}
	}
	return Workload{}, fmt.Errorf("no payload named %q: use hello or echo", name)
}
