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

// The programs the README's snippets are completed into: the snippets are the bodies,
// and this supplies the package clause, the imports and, for the provider, a wait for
// SIGTERM after the last line.
const (
	providerMain = `package main

import (
	"context"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"syscall"

	"example.com/app/greet"
	"github.com/ringrpc/ringrpc/registry"
	"github.com/ringrpc/ringrpc/rpc"
)

%s

func main() {
	ctx := context.Background()
%s
}
`
	consumerMain = `package main

import (
	"context"
	"fmt"
	"log"

	"example.com/app/greet"
	"github.com/ringrpc/ringrpc/registry"
	"github.com/ringrpc/ringrpc/rpc"
)

func main() {
	ctx := context.Background()
%s
}
`
)

// TestReadme follows README.md's "Five minutes" section in a fresh module outside the
// repository, with a replace to this checkout: it writes the interface, runs the
// generate commands, builds a provider and a consumer from the snippets, runs them as
// processes on loopback and checks the answer of the call. The code is taken from
// README.md itself, so that the test fails when the README drifts.
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
	writeFile(t, dir, "go.mod", "module example.com/app\n\ngo 1.26\n")
	writeFile(t, dir, "greet/greet.go", blocks[0].code)

	// Step 2, command by command, as from a checkout: the module proxy does not know
	// github.com/ringrpc/ringrpc, so the checkout's lines stand for the first one.
	// No go.sum is given and nothing is lenient: the module must build as a reader's.
	steps := strings.Split(strings.TrimSpace(blocks[1].code), "\n")
	if !strings.HasPrefix(steps[0], "go get -tool ") {
		t.Fatalf("README step 2 begins %q; the checkout's lines stand for a go get -tool", steps[0])
	}
	checkoutLines := strings.ReplaceAll(blocks[2].code, "/path/to/ringrpc", checkout)
	for _, line := range append(strings.Split(checkoutLines, "\n"), steps[1:]...) {
		args := strings.Fields(line)
		if len(args) == 0 || strings.HasPrefix(args[0], "#") {
			continue
		}
		if args[0] != "go" {
			t.Fatalf("README step 2: %q is not a go command; the test runs go commands only", line)
		}
		goCmd(ctx, t, dir, env, args[1:]...)
	}
	build := exec.CommandContext(ctx, "go", "build", "./greet")
	build.Dir, build.Env = dir, env
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("after README step 2, go build ./greet: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "greet", "greet_ringrpc.go")); err != nil {
		t.Fatalf("README step 2 wrote no greet/greet_ringrpc.go: %v", err)
	}

	rpcAddr, gossipPort := freeTCPPort(t), freeGossipPort(t)
	provider := replaceAll(t, blocks[4].code, map[string]string{
		`"127.0.0.1:7001"`: fmt.Sprintf(`"127.0.0.1:%d"`, rpcAddr),
		`BindPort: 7946`:   fmt.Sprintf(`BindPort: %d`, gossipPort),
		// The test starts the consumer once the provider has joined.
		"<-stop.Done()": "fmt.Println(\"READY\")\n\t<-stop.Done()",
	})
	consumer := replaceAll(t, blocks[5].code, map[string]string{
		`"127.0.0.1:7946"`: fmt.Sprintf(`"127.0.0.1:%d"`, gossipPort),
	})
	writeFile(t, dir, "provider/main.go", fmt.Sprintf(providerMain, blocks[3].code, provider))
	writeFile(t, dir, "consumer/main.go", fmt.Sprintf(consumerMain, consumer))
	goCmd(ctx, t, dir, env, "mod", "tidy")
	goCmd(ctx, t, dir, env, "build", "-o", filepath.Join(dir, "bin")+string(filepath.Separator), "./provider", "./consumer")

	stopProvider := startProvider(ctx, t, filepath.Join(dir, "bin", "provider"))
	// The README's provider gossips at 7946, which the consumer must leave to it: the
	// test holds that port while the consumer and the CLI run (or finds it taken).
	defer holdPort(t, 7946)()
	// The answer is on standard output; the logs go to standard error.
	consumerCmd := exec.CommandContext(ctx, filepath.Join(dir, "bin", "consumer"))
	var stderr strings.Builder
	consumerCmd.Stderr = &stderr
	out, err := consumerCmd.Output()
	if err != nil {
		t.Fatalf("README step 4: the consumer failed: %v\n%s%s", err, out, stderr.String())
	}
	if got, want := strings.TrimSpace(string(out)), expectedAnswer(t, blocks[5].code); got != want {
		t.Fatalf("README step 4: the consumer printed %q, the README says %q", got, want)
	}
	followCLI(ctx, t, dir, env, blocks[6].code, gossipPort)
	stopProvider()
}

// followCLI runs step 5, the CLI against the running provider, command by command:
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
			t.Fatalf("README step 5: %q is not a go command; the test runs go commands only", line)
		}
		cmd := exec.CommandContext(ctx, "go", args[1:]...)
		cmd.Dir, cmd.Env = dir, append(env, "GOPROXY=off") // as in step 2
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("README step 5: %s: %v\n%s", line, err, out)
		}
		if want != "" && strings.TrimSpace(string(out)) != want {
			t.Fatalf("README step 5: %s printed %q, the README says %q", line, out, want)
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
// interface, the generate commands, the implementation, the provider and the consumer.
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
	if got := strings.Join(langs, " "); got != "go sh sh go go go sh" {
		t.Fatalf("README's Five minutes section has code blocks %q; this test follows %q (interface, generate, generate from a checkout, implementation, provider, consumer, CLI): update one or the other", got, "go sh sh go go go sh")
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
		t.Fatalf("README step 4 does not say what the consumer prints (fmt.Println(msg) // answer):\n%s", consumer)
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
			t.Fatalf("README step 3: the provider exited before serving: %v\n%s", <-exited, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("README step 3: the provider was not serving after 30s\n%s", stderr.String())
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
				t.Fatalf("README step 3: the provider did not stop cleanly on SIGTERM: %v\n%s", err, stderr.String())
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("README step 3: the provider did not exit within 30s of SIGTERM\n%s", stderr.String())
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
