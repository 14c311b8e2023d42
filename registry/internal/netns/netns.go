// Package netns builds a small network of hosts on one Linux machine for tests:
// each host is a network namespace with its own address, joined to the others
// by a veth pair and a bridge, and each host's link can be cut in one direction
// or both. It needs root and iproute2 (ip, tc).
package netns

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
)

// Host is one namespace on the bridge.
type Host struct {
	NS   string // namespace name
	Veth string // the bridge's end of the host's veth pair
	IP   net.IP
	MAC  string
}

// Net is a bridge and its hosts.
type Net struct {
	Bridge string
	Hosts  []*Host
	prefix string
}

// Direction selects which way a cut drops packets.
type Direction int

// Cut directions, seen from the host.
const (
	In   Direction = 1 << iota // packets to the host are dropped
	Out                        // packets from the host are dropped
	Both = In | Out
)

// inner is the name of each host's own end of its veth pair.
const inner = "eth0"

// Available says why namespaces cannot be made here, or nil.
func Available() error {
	if os.Geteuid() != 0 {
		return errors.New("network namespaces need root")
	}
	for _, tool := range []string{"ip", "tc"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s not found: install iproute2", tool)
		}
	}
	name := fmt.Sprintf("rrprobe%d", os.Getpid())
	if err := run("ip", "netns", "add", name); err != nil {
		return fmt.Errorf("cannot create a network namespace: %w", err)
	}
	return run("ip", "netns", "del", name)
}

// New makes a bridge and n hosts at 10.<subnet>.0.1 and up. prefix (at most 6
// characters) names the bridge, namespaces and links, so that runs in parallel
// do not meet.
func New(prefix string, subnet byte, n int) (*Net, error) {
	nw := &Net{Bridge: prefix + "br", prefix: prefix}
	nw.clearLeftovers(n)
	if err := runAll([][]string{
		{"ip", "link", "add", nw.Bridge, "type", "bridge"},
		{"ip", "link", "set", nw.Bridge, "up"},
	}); err != nil {
		return nil, err
	}
	for i := range n {
		h := &Host{NS: fmt.Sprintf("%sn%d", prefix, i), Veth: fmt.Sprintf("%sv%d", prefix, i), IP: net.IPv4(10, subnet, 0, byte(i+1)).To4()}
		nw.Hosts = append(nw.Hosts, h)
		if err := nw.addHost(h); err != nil {
			nw.Close()
			return nil, err
		}
	}
	if err := nw.staticARP(); err != nil {
		nw.Close()
		return nil, err
	}
	return nw, nil
}

// clearLeftovers removes what a run that was killed may have left behind.
func (nw *Net) clearLeftovers(n int) {
	for i := range n {
		_ = run("ip", "link", "del", fmt.Sprintf("%sv%d", nw.prefix, i))
		_ = run("ip", "netns", "del", fmt.Sprintf("%sn%d", nw.prefix, i))
	}
	_ = run("ip", "link", "del", nw.Bridge)
}

func (nw *Net) addHost(h *Host) error {
	peer := h.Veth + "p"
	if err := runAll([][]string{
		{"ip", "netns", "add", h.NS},
		{"ip", "-n", h.NS, "link", "set", "lo", "up"},
		{"ip", "link", "add", h.Veth, "type", "veth", "peer", "name", peer},
		{"ip", "link", "set", peer, "netns", h.NS},
		{"ip", "-n", h.NS, "link", "set", peer, "name", inner},
		{"ip", "link", "set", h.Veth, "master", nw.Bridge},
		{"ip", "link", "set", h.Veth, "up"},
		{"ip", "-n", h.NS, "addr", "add", h.IP.String() + "/24", "dev", inner},
		{"ip", "-n", h.NS, "link", "set", inner, "up"},
	}); err != nil {
		return err
	}
	out, err := exec.Command("ip", "-n", h.NS, "-o", "link", "show", inner).Output()
	if err != nil {
		return fmt.Errorf("reading the MAC of %s: %w", h.NS, err)
	}
	f := strings.Fields(string(out))
	for i, w := range f {
		if w == "link/ether" && i+1 < len(f) {
			h.MAC = f[i+1]
		}
	}
	if h.MAC == "" {
		return fmt.Errorf("no MAC in %q", out)
	}
	return nil
}

// staticARP pins every neighbour, so that a one-way cut stays one-way: with ARP,
// the direction left open would fail too once the neighbour entries expire.
func (nw *Net) staticARP() error {
	for _, h := range nw.Hosts {
		for _, o := range nw.Hosts {
			if o == h {
				continue
			}
			if err := run("ip", "-n", h.NS, "neigh", "replace", o.IP.String(), "lladdr", o.MAC, "dev", inner, "nud", "permanent"); err != nil {
				return err
			}
		}
	}
	return nil
}

// Cut drops the host's packets in direction d: a pfifo queue of length 0 on the
// sending end of its veth pair drops every packet handed to it.
func (nw *Net) Cut(i int, d Direction) error {
	h := nw.Hosts[i]
	if d&In != 0 {
		if err := run("tc", "qdisc", "replace", "dev", h.Veth, "root", "pfifo", "limit", "0"); err != nil {
			return err
		}
	}
	if d&Out != 0 {
		return run("ip", "netns", "exec", h.NS, "tc", "qdisc", "replace", "dev", inner, "root", "pfifo", "limit", "0")
	}
	return nil
}

// Heal undoes every cut of the host.
func (nw *Net) Heal(i int) error {
	h := nw.Hosts[i]
	// Deleting a root qdisc that is not there fails harmlessly.
	_ = run("tc", "qdisc", "del", "dev", h.Veth, "root")
	_ = run("ip", "netns", "exec", h.NS, "tc", "qdisc", "del", "dev", inner, "root")
	out, err := exec.Command("tc", "qdisc", "show", "dev", h.Veth).CombinedOutput()
	if err != nil || bytes.Contains(out, []byte("pfifo")) {
		return fmt.Errorf("healing %s: %s %v", h.NS, out, err)
	}
	return nil
}

// Command runs a program inside host i's namespace.
func (nw *Net) Command(i int, name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", nw.Hosts[i].NS, name}, args...)...)
}

// Close removes the namespaces (and their veth pairs) and the bridge.
func (nw *Net) Close() error {
	var errs []error
	for _, h := range nw.Hosts {
		// Deleting the veth at once: a namespace's links go away asynchronously.
		errs = append(errs, run("ip", "link", "del", h.Veth))
		errs = append(errs, run("ip", "netns", "del", h.NS))
	}
	errs = append(errs, run("ip", "link", "del", nw.Bridge))
	return errors.Join(errs...)
}

func runAll(cmds [][]string) error {
	for _, c := range cmds {
		if err := run(c[0], c[1:]...); err != nil {
			return err
		}
	}
	return nil
}

func run(name string, args ...string) error {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}
