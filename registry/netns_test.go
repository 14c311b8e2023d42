package registry

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ringrpc/ringrpc/registry/internal/netns"
)

// Network tests: five hosts, each a network namespace with its own address on a
// bridge, each node a process of its own (registry/internal/nodeproc). Four
// providers n0..n3 (n0 is every node's seed) and a consumer c4 calling test.Who
// with keys. They need root and iproute2 and skip, saying so, without them. The
// cuts of minutes run with RINGRPC_LONG=1.

// Bounds the tests hold, per preset: a cut provider leaves every ring within
// detect after the cut; after the heal, every ring holds every provider and every
// node's ring digest agrees within heal. docs/OPERATIONS.md documents them.
var netBounds = map[Preset]struct{ detect, heal time.Duration }{
	Fast: {detect: 3 * time.Second, heal: 6 * time.Second},
	LAN:  {detect: 30 * time.Second, heal: 20 * time.Second},
}

// viewLine is a line of nodeproc's output (its View and Calls types, merged).
type viewLine struct {
	Node      string   `json:"node"`
	At        int64    `json:"at"`
	Providers []string `json:"providers"`
	Members   int      `json:"members"`
	Digest    uint64   `json:"digest"`
	Divergent int      `json:"divergent"`
	Calls     int64    `json:"calls"`
	Failures  int64    `json:"failures"`
	Fail      string   `json:"fail"`
	Took      int64    `json:"took"`
	Slow      int64    `json:"slow"`
}

type netCluster struct {
	t      *testing.T
	nw     *netns.Net
	preset Preset
	names  []string
	procs  []*exec.Cmd
	logs   []string
	logDir string
	read   sync.WaitGroup

	mu      sync.Mutex
	views   map[string]viewLine
	history []viewLine // every view, in arrival order
	fails   []viewLine
	slow    []viewLine // calls that succeeded after 900 ms or more
	calls   viewLine
	changed chan struct{} // closed and replaced on every line
}

var (
	nodeprocOnce sync.Once
	nodeprocBin  string
	nodeprocErr  error
)

// buildNodeproc builds the node program once per test binary.
func buildNodeproc(t *testing.T) string {
	nodeprocOnce.Do(func() {
		dir, err := os.MkdirTemp("", "nodeproc")
		if err != nil {
			nodeprocErr = err
			return
		}
		nodeprocBin = filepath.Join(dir, "nodeproc")
		cmd := exec.Command("go", "build", "-o", nodeprocBin, "./internal/nodeproc")
		if out, err := cmd.CombinedOutput(); err != nil {
			nodeprocErr = fmt.Errorf("building nodeproc: %v: %s", err, out)
		}
	})
	if nodeprocErr != nil {
		t.Fatal(nodeprocErr)
	}
	return nodeprocBin
}

// startNet builds the five hosts and starts a node on each, then waits until every
// node routes to the four providers and every digest agrees.
func startNet(t *testing.T, preset Preset) *netCluster {
	if err := netns.Available(); err != nil {
		t.Skipf("network tests skipped: %v (they run as root with iproute2 installed)", err)
	}
	bin := buildNodeproc(t)
	made := time.Now()
	nw, err := netns.New(fmt.Sprintf("rr%04d", os.Getpid()%10000), 77, 5)
	if err != nil {
		t.Fatal(err)
	}
	c := &netCluster{t: t, nw: nw, preset: preset, views: map[string]viewLine{}, changed: make(chan struct{}), logDir: t.TempDir()}
	t.Cleanup(c.close) // after the TempDir cleanup was registered: runs before it
	seed := nw.Hosts[0].IP.String() + ":7946"
	for i := range 5 {
		name := fmt.Sprintf("n%d", i)
		args := []string{"-name", name, "-ip", nw.Hosts[i].IP.String(), "-preset", preset.String()}
		if i > 0 {
			args = append(args, "-seeds", seed)
		}
		if i == 4 {
			name = "c4"
			args = append(args[:0:0], "-name", name, "-ip", nw.Hosts[i].IP.String(), "-preset", preset.String(), "-seeds", seed, "-calls")
		}
		c.start(i, name, bin, args)
		if i == 0 {
			c.waitFor("the seed to start", 30*time.Second, func(vs map[string]viewLine) bool { return vs["n0"].Node != "" })
		}
	}
	formed := c.waitAgreed("the cluster to form", 4, 30*time.Second)
	t.Logf("network made, nodes started and agreed in %v (agreement %v after the last start)", time.Since(made).Round(time.Millisecond), formed.Round(time.Millisecond))
	return c
}

func (c *netCluster) start(i int, name, bin string, args []string) {
	cmd := c.nw.Command(i, bin, args...)
	logPath := filepath.Join(c.logDir, name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		c.t.Fatal(err)
	}
	cmd.Stderr = logFile
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		c.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	logFile.Close()
	c.names = append(c.names, name)
	c.procs = append(c.procs, cmd)
	c.logs = append(c.logs, logPath)
	c.read.Go(func() { c.readLines(stdout) })
}

func (c *netCluster) readLines(r io.Reader) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		var v viewLine
		if json.Unmarshal(sc.Bytes(), &v) != nil {
			continue
		}
		c.mu.Lock()
		switch {
		case v.Fail != "":
			c.fails = append(c.fails, v)
			c.calls = v
		case v.Slow != 0:
			c.slow = append(c.slow, v)
			c.calls = v
		case v.Providers == nil && v.Members == 0:
			c.calls = v
		default:
			c.views[v.Node] = v
			c.history = append(c.history, v)
		}
		close(c.changed)
		c.changed = make(chan struct{})
		c.mu.Unlock()
	}
}

func (c *netCluster) close() {
	for _, p := range c.procs {
		p.Process.Kill()
	}
	for _, p := range c.procs {
		p.Wait()
	}
	c.read.Wait()
	if c.t.Failed() {
		for _, l := range c.logs {
			b, _ := os.ReadFile(l)
			lines := strings.Split(strings.TrimSpace(string(b)), "\n")
			c.t.Logf("== %s (last lines)\n%s", filepath.Base(l), strings.Join(lines[max(0, len(lines)-15):], "\n"))
		}
	}
	if err := c.nw.Close(); err != nil {
		c.t.Errorf("removing the network: %v", err)
	}
}

// waitFor waits until cond holds over the nodes' views, at most bound, and returns
// how long it took.
func (c *netCluster) waitFor(what string, bound time.Duration, cond func(map[string]viewLine) bool) time.Duration {
	c.t.Helper()
	start := time.Now()
	limit := time.NewTimer(bound)
	defer limit.Stop()
	for {
		c.mu.Lock()
		ok, changed := cond(c.views), c.changed
		c.mu.Unlock()
		if ok {
			return time.Since(start)
		}
		select {
		case <-changed:
		case <-limit.C:
			c.mu.Lock()
			views := fmt.Sprint(c.views)
			c.mu.Unlock()
			c.t.Fatalf("waited %v for %s; views: %s", bound, what, views)
		}
	}
}

// waitAgreed waits until the five nodes route to providers providers and their
// ring digests agree.
func (c *netCluster) waitAgreed(what string, providers int, bound time.Duration) time.Duration {
	return c.waitFor(what, bound, func(vs map[string]viewLine) bool {
		if len(vs) != 5 {
			return false
		}
		var digest uint64
		for _, v := range vs {
			if len(v.Providers) != providers || v.Members != 5 || v.Divergent != 0 || (digest != 0 && v.Digest != digest) {
				return false
			}
			digest = v.Digest
		}
		return true
	})
}

// waitGone waits until every node but the victim routes without it.
func (c *netCluster) waitGone(victim int, bound time.Duration) time.Duration {
	name := c.names[victim]
	return c.waitFor(name+" to leave every ring", bound, func(vs map[string]viewLine) bool {
		for n, v := range vs {
			if n != name && slices.Contains(v.Providers, name) {
				return false
			}
		}
		return true
	})
}

// removals counts, per observer, the views from history index from on in which
// provider p went missing.
func (c *netCluster) removals(from int, p string, observers []string) map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	had := map[string]bool{}
	for _, v := range c.history[:from] {
		had[v.Node] = slices.Contains(v.Providers, p)
	}
	out := map[string]int{}
	for _, v := range c.history[from:] {
		if !slices.Contains(observers, v.Node) {
			continue
		}
		has := slices.Contains(v.Providers, p)
		if had[v.Node] && !has {
			out[v.Node]++
		}
		had[v.Node] = has
	}
	return out
}

func (c *netCluster) mark() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.history)
}

func (c *netCluster) slowCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.slow)
}

// noSlowCalls fails the test when any of the consumer's calls since slowBefore took
// 900 ms or more: after a heal, a call to the healed provider that met a connection
// stalled during the cut would wait out its attempt timeout.
func (c *netCluster) noSlowCalls(label string, slowBefore int) {
	c.t.Helper()
	c.mu.Lock()
	slow := slices.Clone(c.slow[slowBefore:])
	c.mu.Unlock()
	if len(slow) > 0 {
		var took []string
		for _, s := range slow {
			took = append(took, time.Duration(s.Slow).Round(time.Millisecond).String())
		}
		c.t.Errorf("%s: %d calls took 900 ms or more: %v", label, len(slow), took)
	}
}

func (c *netCluster) failCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.fails)
}

func (c *netCluster) failedCalls() (int64, int64, []viewLine) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls.Calls, c.calls.Failures, slices.Clone(c.fails)
}

func (c *netCluster) cut(i int, d netns.Direction) {
	c.t.Helper()
	if err := c.nw.Cut(i, d); err != nil {
		c.t.Fatal(err)
	}
}

func (c *netCluster) heal(i int) {
	c.t.Helper()
	if err := c.nw.Heal(i); err != nil {
		c.t.Fatal(err)
	}
}

// callsAfterHeal is how many calls the consumer must make after a heal before the
// tests judge them: two seconds of its four callers.
const callsAfterHeal = 400

// waitCalls waits until the consumer has made n more calls than it had.
func (c *netCluster) waitCalls(n int64) {
	c.t.Helper()
	c.mu.Lock()
	target := c.calls.Calls + n
	c.mu.Unlock()
	limit := time.NewTimer(30 * time.Second)
	defer limit.Stop()
	for {
		c.mu.Lock()
		done, changed := c.calls.Calls >= target, c.changed
		c.mu.Unlock()
		if done {
			return
		}
		select {
		case <-changed:
		case <-limit.C:
			c.t.Fatalf("the consumer made fewer than %d calls in 30 s", n)
		}
	}
}

// noFailedCalls fails the test when any of the consumer's calls failed since
// failsBefore, and logs the figures. The consumer's calls are idempotent with 2 s
// deadlines: a provider that stops answering costs one attempt half of what
// remains of the deadline (rpc.RetryPolicy.AttemptTimeout), the call moves on, and
// none fails, during the cut or after the heal.
func (c *netCluster) noFailedCalls(label string, failsBefore int) {
	c.t.Helper()
	calls, failures, fails := c.failedCalls()
	var took []string
	for _, f := range fails[failsBefore:] {
		took = append(took, fmt.Sprintf("%v:%s", time.Duration(f.Took).Round(time.Millisecond), firstWords(f.Fail)))
	}
	c.t.Logf("%s: consumer made %d calls, %d failed in all; failures here: %d %v", label, calls, failures, len(took), took)
	if len(took) > 0 {
		c.t.Errorf("%s: %d idempotent calls failed, want none", label, len(took))
	}
}

func firstWords(s string) string {
	if len(s) > 160 {
		return s[:160] + "..."
	}
	return s
}

func long(t *testing.T) {
	if os.Getenv("RINGRPC_LONG") == "" {
		t.Skip("a cut of minutes: set RINGRPC_LONG=1 to run it")
	}
}

// A provider cut from everyone leaves every ring within the preset's detection
// bound, and once healed, is back in every ring, the digests agreeing, within the
// heal bound.
func TestNetCut(t *testing.T) {
	tests := []struct {
		name   string
		preset Preset
		cut    time.Duration
		long   bool
	}{
		{"fast short", Fast, 3 * time.Second, false},
		{"fast 10s", Fast, 10 * time.Second, false}, // long enough for TCP to back off its retransmissions
		{"fast long", Fast, 150 * time.Second, true},
		{"lan short", LAN, 30 * time.Second, true},
		{"lan long", LAN, 150 * time.Second, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.long {
				long(t)
			}
			c := startNet(t, tc.preset)
			b := netBounds[tc.preset]
			failsBefore := c.failCount()
			c.cut(3, netns.Both)
			detect := c.waitGone(3, b.detect)
			outage(tc.cut - detect)
			slowBefore := c.slowCount()
			c.heal(3)
			healed := c.waitAgreed("rings to agree after the heal", 4, b.heal)
			t.Logf("preset %v, cut of %v: n3 left every ring %v after the cut; every ring agreed %v after the heal",
				tc.preset, tc.cut, detect.Round(time.Millisecond), healed.Round(time.Millisecond))
			c.waitCalls(callsAfterHeal)
			c.noFailedCalls("cut and heal", failsBefore)
			c.noSlowCalls("after the heal", slowBefore)
		})
	}
}

// A provider process killed with SIGKILL, its host up: the kernel resets its
// connections and its gossip stops. It leaves every other node's ring within the
// preset's detection bound, and none of the consumer's idempotent calls fails.
func TestNetKilledProvider(t *testing.T) {
	for _, tc := range []struct {
		preset Preset
		long   bool
	}{{Fast, false}, {LAN, true}} {
		t.Run(tc.preset.String(), func(t *testing.T) {
			if tc.long {
				long(t)
			}
			c := startNet(t, tc.preset)
			failsBefore := c.failCount()
			if err := c.procs[2].Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			gone := c.waitGone(2, netBounds[tc.preset].detect)
			t.Logf("preset %v: the killed provider left every ring %v after SIGKILL", tc.preset, gone.Round(time.Millisecond))
			c.waitCalls(callsAfterHeal)
			c.noFailedCalls("a provider killed", failsBefore)
		})
	}
}

// A one-way cut: the cut provider leaves the rings and comes back, and no healthy
// node ever leaves a healthy node's ring, whatever the cut node said of them.
func TestNetAsymmetricCut(t *testing.T) {
	for _, d := range []struct {
		name string
		dir  netns.Direction
	}{{"deaf", netns.In}, {"mute", netns.Out}} {
		t.Run(d.name, func(t *testing.T) {
			c := startNet(t, Fast)
			b := netBounds[Fast]
			from, failsBefore := c.mark(), c.failCount()
			c.cut(3, d.dir)
			detect := c.waitGone(3, b.detect)
			outage(3 * time.Second)
			slowBefore := c.slowCount()
			c.heal(3)
			healed := c.waitAgreed("rings to agree after the heal", 4, b.heal)
			outage(time.Second) // stale verdicts surface in the second after a heal
			healthy := []string{"n0", "n1", "n2", "c4"}
			for _, p := range []string{"n0", "n1", "n2"} {
				if r := c.removals(from, p, healthy); len(r) > 0 {
					t.Errorf("healthy provider %s left healthy rings during a %s cut of n3: %v", p, d.name, r)
				}
			}
			t.Logf("%s cut: n3 left every ring %v after the cut; every ring agreed %v after the heal", d.name, detect.Round(time.Millisecond), healed.Round(time.Millisecond))
			c.waitCalls(callsAfterHeal)
			c.noFailedCalls(d.name+" cut and heal", failsBefore)
			c.noSlowCalls("after the heal", slowBefore)
		})
	}
}

// The node every other used as its seed is cut: the others stay a cluster, and
// after the heal it is back in every ring.
func TestNetSeedCut(t *testing.T) {
	c := startNet(t, Fast)
	b := netBounds[Fast]
	from, failsBefore := c.mark(), c.failCount()
	c.cut(0, netns.Both)
	detect := c.waitGone(0, b.detect)
	outage(5 * time.Second)
	slowBefore := c.slowCount()
	c.heal(0)
	healed := c.waitAgreed("rings to agree after the seed's heal", 4, b.heal)
	for _, p := range []string{"n1", "n2", "n3"} {
		if r := c.removals(from, p, []string{"n1", "n2", "n3", "c4"}); len(r) > 0 {
			t.Errorf("provider %s left rings while the seed was cut: %v", p, r)
		}
	}
	t.Logf("seed cut: n0 left every ring %v after the cut; every ring agreed %v after the heal", detect.Round(time.Millisecond), healed.Round(time.Millisecond))
	c.waitCalls(callsAfterHeal)
	c.noFailedCalls("seed cut and heal", failsBefore)
	c.noSlowCalls("after the heal", slowBefore)
}

// A flapping link: down 500 ms, up 500 ms, for 6 s. Each removal of the flapping
// provider needs a suspicion to run out while the link is down, so no ring drops
// it more than once per down period; once the link stays up, rings agree within
// the heal bound.
func TestNetFlapping(t *testing.T) {
	c := startNet(t, Fast)
	b := netBounds[Fast]
	from, failsBefore := c.mark(), c.failCount()
	const down, up, span = 500 * time.Millisecond, 500 * time.Millisecond, 6 * time.Second
	cycles := 0
	for start := time.Now(); time.Since(start) < span; cycles++ {
		c.cut(3, netns.Both)
		outage(down)
		c.heal(3)
		outage(up)
	}
	healed := c.waitAgreed("rings to agree after the flapping", 4, b.heal)
	// A removal needs the link down for a whole suspicion timeout, and the next
	// one needs the provider back first: at most one per down period.
	most := cycles
	r := c.removals(from, "n3", []string{"n0", "n1", "n2", "c4"})
	for n, k := range r {
		if k > most {
			t.Errorf("%s dropped n3 %d times in %d down periods of %v", n, k, cycles, down)
		}
	}
	t.Logf("flapping %v/%v for %v: removals of n3 per node %v (at most %d allowed); rings agreed %v after", down, up, span, r, most, healed.Round(time.Millisecond))
	c.waitCalls(callsAfterHeal)
	c.noFailedCalls("flapping", failsBefore)
}
