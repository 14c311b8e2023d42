package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ringrpc/ringrpc/example/hello"
	"github.com/ringrpc/ringrpc/registry"
	"github.com/ringrpc/ringrpc/rpc"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// memberlist's package-level metrics sink is not ours, and its Shutdown does
		// not wait for a probe in progress, which ends within one probe timeout.
		goleak.IgnoreTopFunction("github.com/hashicorp/memberlist.(*Memberlist).probeNode"),
	)
}

// TestMetricsEndpoint: a provider serves its metrics in the Prometheus text format,
// call metrics and the server's and registry's gauges among them.
func TestMetricsEndpoint(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	p, err := start(ctx, config{name: "m1", rpc: "127.0.0.1:0", gossip: "127.0.0.1:0", http: "127.0.0.1:0", preset: registry.Fast, log: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := p.shutdown(ctx); err != nil {
			t.Error(err)
		}
	}()
	c, err := rpc.NewClient(rpc.ClientOptions{Resolver: rpc.StaticAddress(p.rpcAddr.String())})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := hello.NewHelloClient(c).SayHello(ctx, "a", "b"); err != nil {
		t.Fatal(err)
	}
	body := scrape(t, "http://"+p.httpAddr.String()+"/metrics")
	for _, want := range []string{
		"ringrpc_server_connections{",
		"ringrpc_server_busy_total{",
		"ringrpc_server_network_io_bytes_total{",
		`ringrpc_registry_members{`,
		`rpc_server_call_duration_seconds_count{`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics has no %s", want)
		}
	}
	if testing.Verbose() || t.Failed() {
		t.Logf("/metrics:\n%s", body)
	}
}

func scrape(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v", url, resp.StatusCode, err)
	}
	return string(b)
}
