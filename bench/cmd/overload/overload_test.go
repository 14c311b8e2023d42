package main

import (
	"io"
	"maps"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	if childMain() {
		return
	}
	os.Exit(m.Run())
}

// The load test proper is opt-in (RINGRPC_LOAD=1): it runs about a minute. With the
// defaults, a provider facing 500 hostile connections of each kind stays under 512 MiB
// and the good client beside them gets no error. Its p99 is logged against its p99
// alone.
func TestOverload(t *testing.T) {
	if os.Getenv("RINGRPC_LOAD") != "1" {
		t.Skip("set RINGRPC_LOAD=1 to run the load tests (about a minute)")
	}
	var out strings.Builder
	rs, err := runScenarios(options{peers: 500, settle: 3 * time.Second, measure: 5 * time.Second, scenarios: "nonreading,partial,flood"}, &out)
	if err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + out.String())
	for _, r := range rs {
		if r.rss > 512<<20 {
			t.Errorf("%s: the provider's peak RSS was %d MiB, want under 512 MiB", r.kind, r.rss>>20)
		}
		if r.loaded.errors > 0 {
			t.Errorf("%s: %d of the good client's %d calls failed, the first: %v", r.kind, r.loaded.errors, r.loaded.calls, r.loaded.firstErr)
		}
	}
}

// Each provider answers the good client beside a few flooding peers, and the flood's
// answers are counted.
func TestProviders(t *testing.T) {
	for _, p := range []string{"ringrpc", "bare", "bare-yield", "loop", "loop-workers"} {
		t.Run(p, func(t *testing.T) {
			o := options{peers: 4, measure: 200 * time.Millisecond, scenarios: "flood", provider: p}
			if p == "loop-workers" {
				o.provider, o.workers = "loop", 8
			}
			if o.provider == "loop" && runtime.GOOS != "linux" {
				t.Skip("the loop provider needs epoll")
			}
			var out strings.Builder
			rs, err := runScenarios(o, &out)
			if err != nil {
				t.Fatal(err)
			}
			r := rs[0]
			if r.loaded.calls == 0 || r.loaded.errors > 0 || r.hostileRate == 0 {
				t.Errorf("good calls %d, errors %d (first %v), the flood's answers/s %.0f: want calls, no errors and answers", r.loaded.calls, r.loaded.errors, r.loaded.firstErr, r.hostileRate)
			}
		})
	}
	if _, err := runScenarios(options{scenarios: "flood", provider: "nginx"}, io.Discard); err == nil || !strings.Contains(err.Error(), "unknown provider") {
		t.Errorf("an unknown provider: err = %v, want it named", err)
	}
}

// The spin scenario sends the provider nothing: the good client's calls all succeed
// and the hostile process, whose spinning goroutines stop when it is told to, answers
// no responses.
func TestSpin(t *testing.T) {
	var out strings.Builder
	rs, err := runScenarios(options{peers: 4, measure: 200 * time.Millisecond, scenarios: "spin"}, &out)
	if err != nil {
		t.Fatal(err)
	}
	r := rs[0]
	if r.loaded.calls == 0 || r.loaded.errors > 0 || r.hostileRate != 0 {
		t.Errorf("good calls %d, errors %d (first %v), the hostile answers/s %.0f: want calls, no errors and no answers", r.loaded.calls, r.loaded.errors, r.loaded.firstErr, r.hostileRate)
	}
}

func TestParseCPUs(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want map[string]string
	}{
		{"", map[string]string{}},
		{"provider=0", map[string]string{"provider": "0"}},
		{"provider=0,hostile=1+2-3", map[string]string{"provider": "0", "hostile": "1,2-3"}},
		{"client=0", nil},
		{"provider", nil},
		{"provider=", nil},
		{"provider=0;rm", nil},
	} {
		got, err := parseCPUs(tc.in)
		if tc.want == nil {
			if err == nil || !strings.Contains(err.Error(), "role=cpus") {
				t.Errorf("parseCPUs(%q) = %v, %v; want an error that says what it takes", tc.in, got, err)
			}
			continue
		}
		if err != nil || !maps.Equal(got, tc.want) {
			t.Errorf("parseCPUs(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}
