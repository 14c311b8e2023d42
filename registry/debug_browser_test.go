//go:build unix

package registry

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/png"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ringrpc/ringrpc/rpc"
	"github.com/ringrpc/ringrpc/transport"
)

// chromiumTimeout bounds one run of the browser; a loaded machine makes its start slow.
const chromiumTimeout = 90 * time.Second

// The debug page of a provider in a running 3-node cluster, loaded by a real browser
// (headless Chromium): the rendered DOM holds the ring picture of the service, with
// arcs of every provider, and the three members; the screenshot of that same load
// shows each provider's colour in the number of pixels a ring draws. The screenshot
// and the DOM are kept under RINGRPC_ARTIFACTS, or a temporary directory.
func TestDebugPageInBrowser(t *testing.T) {
	browser := findChromium(t)
	// Local: a loaded machine makes Fast suspect healthy nodes, and the page would
	// show what the test did not expect.
	local := func(o *Options) { o.Preset = Local }
	p0 := startProvider(t, "p0", nil, local)
	seeds := []string{p0.reg.GossipAddr()}
	nodes := []*node{p0, startProvider(t, "p1", seeds, local), startProvider(t, "p2", seeds, local)}
	for _, n := range nodes {
		providersOf(t, n.reg, whoDesc.Name, 3)
	}
	// Calls through a plain client, which joins no cluster: the page's node counts them.
	c, err := rpc.NewClient(rpc.ClientOptions{Resolver: rpc.StaticAddress(p0.server.Addr().String()),
		Transport: transport.ClientOptions{ConnOptions: transport.ConnOptions{Logger: quiet}}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	handler := p0.reg.DebugHandler(c) // the provider counts its calls from now on
	for i := range 20 {
		if _, err := who(context.Background(), c, fmt.Sprint("key", i)); err != nil {
			t.Fatal(err)
		}
	}
	url := serveDebug(t, handler)

	dir := artifactDir(t)
	shot := filepath.Join(dir, "debug-page.png")
	dom := runChromium(t, browser, "--dump-dom", "--screenshot="+shot, "--window-size=1200,1400", "--hide-scrollbars", url)
	t.Logf("the debug page as the browser rendered it: %s and %s", shot, filepath.Join(dir, "debug-page.html"))
	if err := os.WriteFile(filepath.Join(dir, "debug-page.html"), dom, 0o644); err != nil {
		t.Fatal(err)
	}
	page := string(dom)
	if n := strings.Count(page, `<tr class="member">`); n != 3 || !strings.Contains(page, `data-count="3"`) {
		t.Errorf("the page shows %d member rows, want 3", n)
	}
	svg := regexp.MustCompile(`(?s)<svg class="ring"[^>]*aria-label="ring of ` + regexp.QuoteMeta(whoDesc.Name) + `: 271 partitions".*?</svg>`).FindString(page)
	if svg == "" {
		t.Fatalf("the page has no ring picture of %s:\n%s", whoDesc.Name, page)
	}
	if arcs := strings.Count(svg, "<path "); arcs < 3 {
		t.Errorf("the ring picture has %d arcs, want one per run of partitions of an owner (at least 3)", arcs)
	}
	for _, n := range nodes {
		if !strings.Contains(svg, ": "+n.name+"</title>") {
			t.Errorf("no arc of the ring belongs to %s", n.name)
		}
	}
	if !strings.Contains(page, `<td>Who</td><td class="n">20</td>`) {
		t.Errorf("the page does not count the 20 calls of Who")
	}
	checkColours(t, shot, legend(t, page, nodes))
}

// legend returns each provider's colour as the page's legend gives it.
func legend(t *testing.T, page string, nodes []*node) map[string]string {
	t.Helper()
	colours := map[string]string{}
	for _, n := range nodes {
		m := regexp.MustCompile(`fill="(#[0-9a-f]{6})"></rect></svg>` + n.name + `</td>`).FindStringSubmatch(page)
		if m == nil {
			t.Fatalf("the legend has no colour for %s", n.name)
		}
		colours[n.name] = m[1]
	}
	return colours
}

// findChromium returns the browser's path, or skips the test saying how to get it;
// under CI, where it must be installed, it fails.
func findChromium(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	const how = "the browser test needs headless Chromium, which is not on PATH: apt-get install -y --no-install-recommends chromium (Debian)"
	if os.Getenv("CI") != "" {
		t.Fatal(how + "; CI must install it")
	}
	t.Skip(how)
	return ""
}

// serveDebug serves h on a loopback port until the test ends, and returns its URL.
func serveDebug(t *testing.T, h http.Handler) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/debug/ringrpc", h)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Error(err)
		}
	})
	return "http://" + ln.Addr().String() + "/debug/ringrpc"
}

// artifactDir is RINGRPC_ARTIFACTS, made if needed, or a temporary directory.
func artifactDir(t *testing.T) string {
	dir := os.Getenv("RINGRPC_ARTIFACTS")
	if dir == "" {
		return t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// runChromium runs the headless browser with args and returns its standard output.
// The browser and every process it started are killed when it runs over
// chromiumTimeout, and once it has exited.
func runChromium(t *testing.T, browser string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), chromiumTimeout)
	defer cancel()
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
		"--no-first-run", "--user-data-dir=" + t.TempDir()}
	cmd := exec.CommandContext(ctx, browser, append(base, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if cmd.Process != nil {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // what it left behind
	}
	if ctx.Err() != nil {
		t.Fatalf("chromium did not finish within %v (killed): %v\n%s", chromiumTimeout, args, lastLines(stderr.String(), 20))
	}
	if err != nil {
		t.Fatalf("chromium %v: %v\n%s", args, err, lastLines(stderr.String(), 20))
	}
	return stdout.Bytes()
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// checkColours finds each provider's colour in the screenshot, in more pixels than
// its legend's swatch has: the ring was drawn.
func checkColours(t *testing.T, path string, colours map[string]string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("no screenshot: %v", err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("the screenshot %s: %v", path, err)
	}
	for node, colour := range colours {
		if n := countColour(img, colour); n < 500 {
			t.Errorf("the screenshot shows %d pixels of %s's colour %s", n, node, colour)
		}
	}
}

// countColour counts the pixels within a small distance of the colour #rrggbb.
func countColour(img image.Image, hex string) int {
	var want [3]int
	fmt.Sscanf(hex, "#%02x%02x%02x", &want[0], &want[1], &want[2])
	n := 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			got := [3]int{int(r >> 8), int(g >> 8), int(bl >> 8)}
			if near(got, want) {
				n++
			}
		}
	}
	return n
}

func near(a, b [3]int) bool {
	for i := range a {
		if d := a[i] - b[i]; d < -6 || d > 6 {
			return false
		}
	}
	return true
}
