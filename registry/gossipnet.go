package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

// gossipNet is memberlist's own transport (TCP and UDP on the bind address) whose
// dials, and the connections they made, end when it shuts down. memberlist holds a
// dial or a state exchange for up to its TCP timeout (10 s with LAN) and cannot be
// told to stop sooner: without this, Join's failure path, which shuts memberlist
// down and waits for the goroutine of its join, outlived Join's ctx by that long.
type gossipNet struct {
	*memberlist.NetTransport
	ctx    context.Context // ends at Shutdown: dials in progress fail
	cancel context.CancelFunc

	mu     sync.Mutex
	conns  map[*gossipConn]struct{} // dialed and not closed
	closed bool
}

var _ memberlist.NodeAwareTransport = (*gossipNet)(nil)

// newGossipNet binds c's address as memberlist would: an ephemeral port is tried
// ten times, as binding the same port for UDP and TCP may race with another
// process, and c then holds the port it got.
func newGossipNet(c *memberlist.Config) (*gossipNet, error) {
	out := c.LogOutput
	if out == nil {
		out = io.Discard
	}
	nc := &memberlist.NetTransportConfig{
		BindAddrs:    []string{c.BindAddr},
		BindPort:     c.BindPort,
		Logger:       log.New(out, "", log.LstdFlags),
		MetricLabels: c.MetricLabels,
	}
	tries := 1
	if c.BindPort == 0 {
		tries = 10
	}
	var nt *memberlist.NetTransport
	var err error
	for range tries {
		if nt, err = memberlist.NewNetTransport(nc); err == nil || !strings.Contains(err.Error(), "address already in use") {
			break
		}
	}
	if err != nil {
		return nil, err
	}
	if c.BindPort == 0 {
		c.BindPort = nt.GetAutoBindPort()
		c.AdvertisePort = c.BindPort
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &gossipNet{NetTransport: nt, ctx: ctx, cancel: cancel, conns: map[*gossipConn]struct{}{}}, nil
}

var errGossipShutDown = errors.New("registry: gossip is shut down")

// DialTimeout dials addr for memberlist's stream exchanges.
func (g *gossipNet) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	return g.DialAddressTimeout(memberlist.Address{Addr: addr}, timeout)
}

// DialAddressTimeout dials a for memberlist's stream exchanges, until the timeout
// or Shutdown, whichever comes first.
func (g *gossipNet) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	d := net.Dialer{Timeout: timeout}
	nc, err := d.DialContext(g.ctx, "tcp", a.Addr)
	if err != nil {
		if g.ctx.Err() != nil {
			return nil, fmt.Errorf("dialing %s: %w", a.Addr, errGossipShutDown)
		}
		return nil, err
	}
	c := &gossipConn{Conn: nc, g: g}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		nc.Close()
		return nil, fmt.Errorf("dialing %s: %w", a.Addr, errGossipShutDown)
	}
	g.conns[c] = struct{}{}
	return c, nil
}

// Shutdown ends the dials in progress and closes the connections they made, then
// memberlist's listeners.
func (g *gossipNet) Shutdown() error {
	g.cancel()
	g.mu.Lock()
	g.closed = true
	conns := g.conns
	g.conns = nil
	g.mu.Unlock()
	for c := range conns {
		c.Conn.Close()
	}
	return g.NetTransport.Shutdown()
}

// gossipConn is a connection gossipNet dialed: it leaves gossipNet's set when
// memberlist closes it.
type gossipConn struct {
	net.Conn
	g    *gossipNet
	once sync.Once
}

func (c *gossipConn) Close() error {
	c.once.Do(func() {
		c.g.mu.Lock()
		delete(c.g.conns, c)
		c.g.mu.Unlock()
	})
	return c.Conn.Close()
}
