package rpc

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestLatencyBuckets(t *testing.T) {
	for _, d := range []time.Duration{0, 1, 1023, 1024, 4096, 5000, 7 * time.Microsecond, 100 * time.Microsecond,
		time.Millisecond, 3 * time.Millisecond, 250 * time.Millisecond, time.Second, 59 * time.Second} {
		i := latencyBucket(d)
		lo, hi := bucketBounds(i)
		if d < lo || d >= hi {
			t.Errorf("%v falls in bucket %d of [%v, %v)", d, i, lo, hi)
		}
		if mid := lo + (hi-lo)/2; d > time.Microsecond*8 && (float64(mid) < 0.875*float64(d) || float64(mid) > 1.125*float64(d)) {
			t.Errorf("%v is reported as %v: more than 12.5%% off", d, mid)
		}
	}
	// Buckets follow each other without a gap, and the last takes everything.
	for i := 1; i < latencyBuckets; i++ {
		_, prevHi := bucketBounds(i - 1)
		if lo, _ := bucketBounds(i); lo != prevHi {
			t.Fatalf("bucket %d starts at %v, the one before ends at %v", i, lo, prevHi)
		}
	}
	if i := latencyBucket(time.Hour); i != latencyBuckets-1 {
		t.Fatalf("an hour falls in bucket %d", i)
	}
}

func TestPercentiles(t *testing.T) {
	var st methodStats
	// 50 calls of about 100 µs, 45 of about 10 ms, 5 of about 1 s.
	for i := range 100 {
		d := 100 * time.Microsecond
		switch {
		case i >= 95:
			d = time.Second
		case i >= 50:
			d = 10 * time.Millisecond
		}
		st.latency[latencyBucket(d)].Add(1)
	}
	st.recordCode(time.Time{}, CodeBusy) // no arrival time: no latency
	got := st.snapshot("s", "m")
	near := func(name string, got, want time.Duration) {
		t.Helper()
		if float64(got) < 0.875*float64(want) || float64(got) > 1.125*float64(want) {
			t.Errorf("%s = %v, want about %v", name, got, want)
		}
	}
	near("p50", got.P50, 100*time.Microsecond)
	near("p90", got.P90, 10*time.Millisecond)
	near("p99", got.P99, time.Second)
	if got.Calls != 101 || got.Errors != 1 || got.Codes["busy"] != 1 {
		t.Fatalf("counted %+v", got)
	}
	if empty := new(methodStats).snapshot("s", "m"); empty.P99 != 0 || empty.ErrorRate() != 0 {
		t.Fatalf("no call: %+v", empty)
	}
}

// Calls are counted per method with their errors by code once a debug page is made,
// and the page shows them, as HTML and as JSON. Calls before it are not counted.
func TestMethodStatsAndDebugPage(t *testing.T) {
	s, _, addr := startGreeter(t, ServerOptions{})
	g, _ := newGreeterClient(t, ClientOptions{Resolver: StaticAddress(addr)})
	ctx := context.Background()
	if _, err := g.SayHello(ctx, "before", "the page"); err != nil {
		t.Fatal(err)
	}
	before := time.Now()
	h := s.DebugHandler()
	after := time.Now()
	for range 7 {
		if _, err := g.SayHello(ctx, "a", "b"); err != nil {
			t.Fatal(err)
		}
	}
	for range 3 {
		if err := g.Fail(ctx, CodeNotFound, "no"); CodeOf(err) != CodeNotFound {
			t.Fatalf("Fail: %v", err)
		}
	}
	if err := g.Panic(ctx); CodeOf(err) != CodeInternal {
		t.Fatalf("Panic: %v", err)
	}
	stats := map[string]MethodStats{}
	for _, m := range s.MethodStats() {
		stats[m.Method] = m
	}
	if m := stats["SayHello"]; m.Calls != 7 || m.Errors != 0 || m.P50 <= 0 || m.P99 < m.P50 {
		t.Errorf("SayHello: %+v", m)
	}
	if m := stats["Fail"]; m.Calls != 3 || m.Errors != 3 || m.Codes["not_found"] != 3 || m.ErrorRate() != 1 {
		t.Errorf("Fail: %+v", m)
	}
	if m := stats["Panic"]; m.Calls != 1 || m.Codes["internal"] != 1 {
		t.Errorf("Panic: %+v", m)
	}
	if m := stats["Pair"]; m.Calls != 0 {
		t.Errorf("Pair, never called: %+v", m)
	}

	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/debug/ringrpc", nil))
	body := w.Body.String()
	if w.Code != http.StatusOK || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/html") {
		t.Fatalf("the page: %d %s", w.Code, w.Header().Get("Content-Type"))
	}
	if since := stats["SayHello"].Since; since.Before(before) || since.After(after) {
		t.Errorf("counted since %v, want when the page was made (%v to %v)", since, before, after)
	}
	counted := "Counted since " + stats["SayHello"].Since.UTC().Format("2006-01-02 15:04:05 MST") + ", when this page"
	for _, want := range []string{`<table id="methods">`, `<td>SayHello</td><td class="n">7</td>`, "not_found 3", `<table id="conns">`, "from a client", "SERVING", counted} {
		if !strings.Contains(body, want) {
			t.Errorf("the page lacks %s:\n%s", want, body)
		}
	}

	// The provider counts a request answered just after its response left: the page
	// shows none in hand once it has.
	waitUntil(t, func() bool { return s.Transport().Conns()[0].Handling() == 0 })
	w = httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/debug/ringrpc?format=json", nil))
	var page struct {
		Addr    string
		Methods []struct {
			Method    string
			Calls     uint64
			ErrorRate float64
		}
		Conns []struct {
			Side     string
			Handling int
		}
	}
	if err := json.Unmarshal(w.Body.Bytes(), &page); err != nil {
		t.Fatalf("%v: %s", err, w.Body)
	}
	if page.Addr != addr || len(page.Conns) != 1 || page.Conns[0].Side != "in" || page.Conns[0].Handling != 0 {
		t.Fatalf("JSON page: %+v", page)
	}
	calls := map[string]uint64{}
	for _, m := range page.Methods {
		calls[m.Method] = m.Calls
	}
	if calls["SayHello"] != 7 || calls["Fail"] != 3 {
		t.Fatalf("JSON methods: %+v", page.Methods)
	}
}

// The cost a call pays for its counters, on the server's hot path: alone, and with
// every core counting calls of the same method at once.
func BenchmarkMethodStatsRecord(b *testing.B) {
	start := time.Now()
	b.Run("serial", func(b *testing.B) {
		var st methodStats
		b.ReportAllocs()
		for b.Loop() {
			st.record(start, nil)
		}
	})
	b.Run("parallel", func(b *testing.B) {
		var st methodStats
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				st.record(start, nil)
			}
		})
	})
}

// The page's health statuses are those of the whole server and of the services it
// serves: a status set for a service not registered, which health checks answer
// service_not_found, is not shown as the service's.
func TestDebugPageHealthOfServicesServed(t *testing.T) {
	s, _, _ := startGreeter(t, ServerOptions{})
	s.SetServingStatus("example.com/not.Here", StatusServing)
	s.SetServingStatus(greeterDesc.Name, StatusNotServing)
	w := httptest.NewRecorder()
	s.DebugHandler().ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/debug/ringrpc?format=json", nil))
	var page struct {
		Health []struct{ Service, Status string }
	}
	if err := json.Unmarshal(w.Body.Bytes(), &page); err != nil {
		t.Fatalf("%v: %s", err, w.Body)
	}
	got := map[string]string{}
	for _, h := range page.Health {
		got[h.Service] = h.Status
	}
	want := map[string]string{"": "SERVING", greeterDesc.Name: "NOT_SERVING"}
	if len(got) != len(want) || got[""] != want[""] || got[greeterDesc.Name] != want[greeterDesc.Name] {
		t.Fatalf("health on the page: %v, want %v", got, want)
	}
}
