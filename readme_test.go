package ringrpc_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestReadme follows README.md's "Five minutes" section in a new directory outside
// the repository: it runs its commands, with this checkout for /path/to/ringrpc,
// writes its files, runs the provider and the consumer as processes on loopback and
// checks what the consumer and the CLI print. The commands and the code are
// README.md's own, so that the test fails when the README drifts; only the example
// ports are swapped for free ones. No go.sum is given and nothing is lenient: the
// module must build as a reader's.
func TestReadme(t *testing.T) {
	blocks := readmeBlocks(t)
	checkout, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	// Every module the new one needs is one this checkout needs: fetch them here, with
	// the proxy, so that the new module resolves them from the module cache.
	goCmd(ctx, t, checkout, nil, "mod", "download")

	dir := t.TempDir()
	env := moduleEnv(ctx, t)
	goLines := func(step, block string) {
		for _, line := range strings.Split(block, "\n") {
			args, _ := shellFields(line)
			if len(args) == 0 {
				continue
			}
			if args[0] != "go" {
				t.Fatalf("README step %s: %q is not a go command; the test runs go commands only", step, line)
			}
			goCmd(ctx, t, dir, env, args[1:]...)
		}
	}
	goLines("1", strings.ReplaceAll(blocks[0].code, "/path/to/ringrpc", checkout))
	writeFile(t, dir, "greet/greet.go", blocks[1].code)
	goLines("3", blocks[2].code)
	if _, err := os.Stat(filepath.Join(dir, "greet", "greet_ringrpc.go")); err != nil {
		t.Fatalf("README step 3 wrote no greet/greet_ringrpc.go: %v", err)
	}

	rpcAddr, gossipPort := freeTCPPort(t), freeGossipPort(t)
	writeFile(t, dir, "provider/main.go", replaceAll(t, blocks[3].code, map[string]string{
		`"127.0.0.1:7001"`: fmt.Sprintf(`"127.0.0.1:%d"`, rpcAddr),
		`BindPort: 7946`:   fmt.Sprintf(`BindPort: %d`, gossipPort),
		// The test starts the consumer once the provider has joined.
		"<-stop.Done()": "os.Stdout.WriteString(\"READY\\n\")\n\t<-stop.Done()",
	}))
	writeFile(t, dir, "consumer/main.go", replaceAll(t, blocks[4].code, map[string]string{
		`"127.0.0.1:7946"`: fmt.Sprintf(`"127.0.0.1:%d"`, gossipPort),
	}))
	// The README's provider gossips at 7946, which the consumer must leave to it: the
	// test holds that port while the consumer and the CLI run (or finds it taken).
	defer holdPort(t, 7946)()
	stopProvider := func() {}
	defer func() { stopProvider() }()
	for _, line := range strings.Split(blocks[5].code, "\n") {
		args, comment := shellFields(line)
		switch {
		case len(args) == 0:
		case args[0] == "go":
			goCmd(ctx, t, dir, env, args[1:]...)
		case len(args) == 2 && args[1] == "&":
			stopProvider = startProvider(ctx, t, filepath.Join(dir, args[0]))
		case len(args) == 1:
			// The answer is on standard output; the logs go to standard error.
			cmd := exec.CommandContext(ctx, filepath.Join(dir, args[0]))
			var stderr strings.Builder
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("README step 6: %s failed: %v\n%s%s", args[0], err, out, stderr.String())
			}
			if want := expectedAnswer(t, blocks[4].code); comment != want {
				t.Fatalf("README step 6 says %s prints %q, step 5 %q", args[0], comment, want)
			}
			if got := strings.TrimSpace(string(out)); got != comment {
				t.Fatalf("README step 6: %s printed %q, the README says %q", args[0], got, comment)
			}
		default:
			t.Fatalf("README step 6: %q is neither a go command, a program started with &, nor one run alone", line)
		}
	}
	followCLI(ctx, t, dir, env, blocks[6].code, gossipPort)
	stopProvider()
	stopProvider = func() {}
}

// followCLI runs step 7, the CLI against the running provider, command by command:
// each must succeed, and print what the comment after it says, when it has one.
func followCLI(ctx context.Context, t *testing.T, dir string, env []string, block string, gossipPort int) {
	t.Helper()
	block = replaceAll(t, block, map[string]string{"127.0.0.1:7946": fmt.Sprintf("127.0.0.1:%d", gossipPort)})
	for _, line := range strings.Split(block, "\n") {
		args, want := shellFields(line)
		if len(args) == 0 {
			continue
		}
		if args[0] != "go" {
			t.Fatalf("README step 7: %q is not a go command; the test runs go commands only", line)
		}
		cmd := exec.CommandContext(ctx, "go", args[1:]...)
		cmd.Dir, cmd.Env = dir, append(env, "GOPROXY=off") // the tools are the module's
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("README step 7: %s: %v\n%s", line, err, out)
		}
		if want != "" && strings.TrimSpace(string(out)) != want {
			t.Fatalf("README step 7: %s printed %q, the README says %q", line, out, want)
		}
	}
}

// shellFields splits a command line as a shell does for the README's commands
// (words, single quotes) and returns the comment after it, if any.
func shellFields(line string) (args []string, comment string) {
	var word strings.Builder
	inWord, quoted := false, false
	for i, c := range line {
		switch {
		case quoted && c == '\'':
			quoted = false
		case quoted:
			word.WriteRune(c)
		case c == '\'':
			quoted, inWord = true, true
		case c == '#' && !inWord:
			return args, strings.TrimSpace(line[i+1:])
		case c == ' ' || c == '\t':
			if inWord {
				args, inWord = append(args, word.String()), false
				word.Reset()
			}
		default:
			word.WriteRune(c)
			inWord = true
		}
	}
	if inWord {
		args = append(args, word.String())
	}
	return args, ""
}

type codeBlock struct{ lang, code string }

var fence = regexp.MustCompile("(?ms)^```(\\w*)\\n(.*?)^```")

// readmeBlocks returns the code blocks of the README's "Five minutes" section: the
// module's commands, the interface, the generate commands, the provider, the
// consumer, the commands that run them and the CLI's.
func readmeBlocks(t *testing.T) []codeBlock {
	t.Helper()
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	start := strings.Index(s, "\n## Five minutes")
	if start < 0 {
		t.Fatal(`README.md has no "## Five minutes" section`)
	}
	s = s[start+1:]
	if end := strings.Index(s, "\n## "); end >= 0 {
		s = s[:end]
	}
	var blocks []codeBlock
	var langs []string
	for _, m := range fence.FindAllStringSubmatch(s, -1) {
		blocks = append(blocks, codeBlock{m[1], m[2]})
		langs = append(langs, m[1])
	}
	if got := strings.Join(langs, " "); got != "sh go sh go go sh sh" {
		t.Fatalf("README's Five minutes section has code blocks %q; this test follows %q (module, interface, generate, provider, consumer, run, CLI): update one or the other", got, "sh go sh go go sh sh")
	}
	return blocks
}

// moduleEnv is the environment of the go commands in the new module. The module
// github.com/ringrpc/ringrpc is replaced by this checkout; the other modules come from
// the module cache or, for the few the new module selects at other versions than the
// checkout does, from the proxy, which also answers the checksum database's lookups.
func moduleEnv(ctx context.Context, t *testing.T) []string {
	t.Helper()
	out, err := exec.CommandContext(ctx, "go", "env", "GOFLAGS").Output()
	if err != nil {
		t.Fatalf("go env GOFLAGS: %v", err)
	}
	return append(os.Environ(), "GOFLAGS="+strings.TrimSpace(string(out)), "GOWORK=off", "GOTOOLCHAIN=local")
}

// goCmd runs the go command in dir with env (the process's own when nil).
func goCmd(ctx context.Context, t *testing.T, dir string, env []string, args ...string) {
	t.Helper()
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir, cmd.Env = dir, env
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go %s in %s: %v\n%s", strings.Join(args, " "), dir, err, out)
	}
}

func writeFile(t *testing.T, dir, name, content string) {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// replaceAll swaps the README's example ports for free ones; each must be there.
func replaceAll(t *testing.T, code string, repl map[string]string) string {
	t.Helper()
	for old, repl := range repl {
		if !strings.Contains(code, old) {
			t.Fatalf("README snippet has no %s, which this test replaces with a free port:\n%s", old, code)
		}
		code = strings.ReplaceAll(code, old, repl)
	}
	return code
}

// expectedAnswer is what the README says the consumer prints: the comment after its
// fmt.Println.
func expectedAnswer(t *testing.T, consumer string) string {
	t.Helper()
	m := regexp.MustCompile(`fmt\.Println\(\w+\) // (.+)`).FindStringSubmatch(consumer)
	if m == nil {
		t.Fatalf("README step 5 does not say what the consumer prints (fmt.Println(msg) // answer):\n%s", consumer)
	}
	return strings.TrimSpace(m[1])
}

func freeTCPPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// holdPort listens on port of 127.0.0.1, TCP and UDP, as a gossip node there would,
// until the function it returns is called; a port already taken stays taken.
func holdPort(t *testing.T, port int) (release func()) {
	t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	var closers []io.Closer
	if ln, err := net.Listen("tcp", addr); err == nil {
		closers = append(closers, ln)
	}
	if pc, err := net.ListenPacket("udp", addr); err == nil {
		closers = append(closers, pc)
	}
	return func() {
		for _, c := range closers {
			c.Close()
		}
	}
}

// freeGossipPort returns a port free for both TCP and UDP, as gossip needs.
func freeGossipPort(t *testing.T) int {
	t.Helper()
	for range 20 {
		port := freeTCPPort(t)
		pc, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			pc.Close()
			return port
		}
	}
	t.Fatal("no port free for both TCP and UDP on 127.0.0.1")
	return 0
}

// startProvider runs the provider until it prints READY and returns the function that
// stops it with SIGTERM and checks that it exits cleanly.
func startProvider(ctx context.Context, t *testing.T, bin string) (stop func()) {
	t.Helper()
	cmd := exec.CommandContext(ctx, bin)
	stderr := new(syncBuffer)
	cmd.Stderr = stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		found := false
		for sc.Scan() {
			if !found && sc.Text() == "READY" {
				found = true
				ready <- true
			}
		}
		if !found {
			ready <- false
		}
		exited <- cmd.Wait()
	}()
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			cmd.Process.Kill()
			<-exited
		}
	})
	select {
	case ok := <-ready:
		if !ok {
			t.Fatalf("README step 6: the provider exited before serving: %v\n%s", <-exited, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("README step 6: the provider was not serving after 30s\n%s", stderr.String())
	}
	return func() {
		t.Helper()
		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatalf("stopping the provider: %v", err)
		}
		select {
		case err := <-exited:
			stopped = true
			if err != nil {
				t.Fatalf("README step 6: the provider did not stop cleanly on SIGTERM: %v\n%s", err, stderr.String())
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("README step 6: the provider did not exit within 30s of SIGTERM\n%s", stderr.String())
		}
	}
}

// syncBuffer collects a process's output while the test may read it.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
