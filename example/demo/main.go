// Command demo runs a ringrpc cluster on this machine, as separate processes: three
// providers and one consumer, joined by gossip. The consumer makes sync, async, oneway
// and keyed calls; then one provider is killed with SIGKILL and the calls move to the
// others without a failure; then it starts again and takes its share back. It stops
// every process it started and exits 0, or non-zero on any failure.
//
//	go build -o bin/ ./example/provider ./example/consumer && go run ./example/demo -bin bin
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"
)

func main() {
	bin := flag.String("bin", "bin", "directory holding the provider and consumer binaries")
	timeout := flag.Duration("timeout", 60*time.Second, "give up after this long")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	d := &demo{bin: *bin, ctx: ctx}
	err := d.run()
	d.stopAll()
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo FAILED:", err)
		os.Exit(1)
	}
	fmt.Println("demo OK: no call failed; the killed provider's keys moved and came back")
}

// proc is a child process whose output lines are echoed and can be awaited.
type proc struct {
	name  string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string
	done  chan struct{}
}

type demo struct {
	bin   string
	ctx   context.Context
	mu    sync.Mutex
	procs []*proc
	world chan struct{}
}

func (d *demo) start(name string, args ...string) (*proc, error) {
	cmd := exec.Command(filepath.Join(d.bin, strings.SplitN(name, "#", 2)[0]), args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w (run make demo, which builds it)", name, err)
	}
	p := &proc{name: name, cmd: cmd, stdin: stdin, lines: make(chan string, 256), done: make(chan struct{})}
	go func() {
		// Wait closes the pipe: read everything first, or the last lines are lost.
		p.read(stdout, d.world)
		cmd.Wait()
		close(p.done)
	}()
	d.mu.Lock()
	d.procs = append(d.procs, p)
	d.mu.Unlock()
	return p, nil
}

// read echoes the child's lines with its name and passes them on.
func (p *proc) read(r io.Reader, world chan struct{}) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		fmt.Printf("  [%s] %s\n", p.label(), line)
		if strings.Contains(line, "world a b") {
			select {
			case world <- struct{}{}:
			default:
			}
		}
		select {
		case p.lines <- line:
		default: // nobody waits for this line
		}
	}
	close(p.lines)
}

func (p *proc) label() string { return strings.ReplaceAll(p.name, "#", " ") }

// await returns the first line of p matching re.
func (d *demo) await(p *proc, re string) (string, error) {
	rx := regexp.MustCompile(re)
	for {
		select {
		case line, ok := <-p.lines:
			if !ok {
				return "", fmt.Errorf("%s exited before printing %q", p.label(), re)
			}
			if rx.MatchString(line) {
				return line, nil
			}
		case <-d.ctx.Done():
			return "", fmt.Errorf("waiting for %q from %s: %w", re, p.label(), d.ctx.Err())
		}
	}
}

// startProvider starts a provider and returns it with the gossip and RPC addresses it
// printed. A restart passes the old addresses, so that it comes back where it was.
func (d *demo) startProvider(name, seed string, addrs ...string) (*proc, []string, error) {
	args := []string{"-name", name}
	if seed != "" {
		args = append(args, "-seed", seed)
	}
	if len(addrs) == 2 {
		args = append(args, "-gossip", addrs[0], "-rpc", addrs[1])
	}
	if name == "p1" { // its page shows the cluster while the demo runs: see its DEBUG line
		args = append(args, "-debug", "127.0.0.1:0")
	}
	p, err := d.start("provider#"+name, args...)
	if err != nil {
		return nil, nil, err
	}
	line, err := d.await(p, `^READY `)
	if err != nil {
		return nil, nil, err
	}
	field := func(k string) string {
		return strings.TrimPrefix(regexp.MustCompile(k+`=\S+`).FindString(line), k+"=")
	}
	return p, []string{field("gossip"), field("rpc")}, nil
}

// round sends a command to the consumer and collects its output until DONE.
func (d *demo) round(c *proc, cmd string) ([]string, error) {
	fmt.Printf("\n== %s\n", cmd)
	if _, err := fmt.Fprintln(c.stdin, cmd); err != nil {
		return nil, err
	}
	var out []string
	for {
		line, err := d.await(c, `.`)
		if err != nil {
			return nil, err
		}
		if strings.HasPrefix(line, "DONE ") {
			if !strings.HasSuffix(line, " failed=0") {
				return nil, fmt.Errorf("round %q: %s", cmd, line)
			}
			return out, nil
		}
		out = append(out, line)
	}
}

// owners maps each user of a keys round to the providers that served it.
func owners(lines []string) map[string]string {
	m := map[string]string{}
	rx := regexp.MustCompile(`Greet\("(user-\d+)"\)\s+served by (.*)$`)
	for _, l := range lines {
		if g := rx.FindStringSubmatch(l); g != nil {
			m[g[1]] = g[2]
		}
	}
	return m
}

func (d *demo) run() error {
	d.world = make(chan struct{}, 1)
	fmt.Println("== starting three providers and a consumer, each its own process")
	_, addrs, err := d.startProvider("p1", "")
	if err != nil {
		return err
	}
	seed := addrs[0]
	if _, _, err = d.startProvider("p3", seed); err != nil {
		return err
	}
	p2, p2addrs, err := d.startProvider("p2", seed)
	if err != nil {
		return err
	}
	c, err := d.start("consumer", "-seed", seed, "-providers", "3", "-demo")
	if err != nil {
		return err
	}
	if _, err := d.await(c, `^READY`); err != nil {
		return err
	}
	if _, err := d.round(c, "basic"); err != nil {
		return err
	}
	select {
	case <-d.world:
	case <-time.After(5 * time.Second):
		return errors.New(`no provider logged "world a b" for the oneway call`)
	}
	before, err := d.round(c, "keys")
	if err != nil {
		return err
	}
	fmt.Println("\n== killing p2 with SIGKILL: no goodbye; its keys fail over")
	p2.cmd.Process.Signal(syscall.SIGKILL)
	<-p2.done
	during, err := d.round(c, "keys")
	if err != nil {
		return err
	}
	for user, by := range owners(during) {
		if strings.Contains(by, "p2") {
			return fmt.Errorf("%s was served by the dead provider: %s", user, by)
		}
	}
	if _, err := d.round(c, "wait 2"); err != nil {
		return err
	}
	fmt.Println("\n== starting p2 again: it takes its share back")
	if _, _, err := d.startProvider("p2", seed, p2addrs...); err != nil {
		return err
	}
	if _, err := d.round(c, "wait 3"); err != nil {
		return err
	}
	after, err := d.round(c, "keys")
	if err != nil {
		return err
	}
	if b, a := owners(before), owners(after); fmt.Sprint(b) != fmt.Sprint(a) {
		return fmt.Errorf("keys did not return to their owners:\nbefore %v\nafter  %v", b, a)
	}
	fmt.Fprintln(c.stdin, "quit")
	<-c.done
	return nil
}

// stopAll asks every process still running to leave, then kills what remains.
func (d *demo) stopAll() {
	d.mu.Lock()
	procs := d.procs
	d.mu.Unlock()
	for _, p := range procs {
		p.cmd.Process.Signal(syscall.SIGTERM)
	}
	for _, p := range procs {
		select {
		case <-p.done:
		case <-time.After(15 * time.Second):
			p.cmd.Process.Kill()
			<-p.done
		}
	}
}
