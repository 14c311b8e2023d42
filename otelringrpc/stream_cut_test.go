package otelringrpc_test

import (
	"context"
	"errors"
	"io"
	"iter"
	"net"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/ringrpc/ringrpc/codegen/testdata/streams"
	"github.com/ringrpc/ringrpc/rpc"
	"github.com/ringrpc/ringrpc/transport"
)

// watcher is a streams.Feed whose Ticks stream, as many handlers do, waits for its
// context to end and then ends with an error: the context's (every 0) or one of its
// own after a first tick (every 1): the one a handler that wraps the error of its
// send or of its context makes. Its other methods are not called.
type watcher struct {
	streams.Feed
	running chan struct{}
}

func (w watcher) Ticks(ctx context.Context, every int) iter.Seq2[int64, error] {
	return func(yield func(int64, error) bool) {
		if every == 1 && !yield(1, nil) {
			w.running <- struct{}{}
			yield(0, errors.New("the handler gave up"))
			return
		}
		w.running <- struct{}{}
		<-ctx.Done()
		if every == 1 {
			yield(0, errors.New("the handler gave up"))
			return
		}
		yield(0, ctx.Err())
	}
}

// serveWatcher serves w, instrumented by tel, counting its method figures.
func serveWatcher(t *testing.T, tel *telemetry, w watcher) (*rpc.Server, string) {
	t.Helper()
	opts := rpc.ServerOptions{Logger: quiet, Transport: transport.ServerOptions{ConnOptions: transport.ConnOptions{Logger: quiet}}}
	tel.inst.Server(&opts)
	s := rpc.NewServer(opts)
	if err := streams.RegisterFeedServer(s, w); err != nil {
		t.Fatal(err)
	}
	s.MethodStats() // count from now
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(ln)
	t.Cleanup(func() { s.Close() })
	return s, ln.Addr().String()
}

// cutProxy relays connections to addr until cut drops every one of them at once, as
// a pulled cable or a crashed caller does.
func cutProxy(t *testing.T, addr string) (string, func()) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", addr)
			if err != nil {
				in.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, in, out)
			mu.Unlock()
			wg.Add(2)
			go func() { defer wg.Done(); io.Copy(out, in); out.Close() }()
			go func() { defer wg.Done(); io.Copy(in, out); in.Close() }()
		}
	}()
	var once sync.Once
	cut := func() {
		once.Do(func() {
			ln.Close()
			mu.Lock()
			for _, c := range conns {
				c.Close()
			}
			mu.Unlock()
			wg.Wait()
		})
	}
	t.Cleanup(cut)
	return ln.Addr().String(), cut
}

// streamOutcome waits until rpc.server.call.duration recorded one call, and returns
// its rpc.response.status_code.
func streamOutcome(t *testing.T, tel *telemetry) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var rm metricdata.ResourceMetrics
		if err := tel.reader.Collect(context.Background(), &rm); err != nil {
			t.Fatal(err)
		}
		for _, sm := range rm.ScopeMetrics {
			for _, m := range sm.Metrics {
				if h, ok := m.Data.(metricdata.Histogram[float64]); ok && m.Name == "rpc.server.call.duration" {
					for _, p := range h.DataPoints {
						if p.Count > 0 {
							code, _ := p.Attributes.Value("rpc.response.status_code")
							return code.AsString()
						}
					}
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the server recorded no stream within 10 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func ticksCodes(s *rpc.Server) map[string]uint64 {
	for _, m := range s.MethodStats() {
		if m.Method == "Ticks" {
			return m.Codes
		}
	}
	return nil
}

// "On the server a stream cut short before its handler returned is not a success,
// whatever the handler returned: canceled when its opener reset it, unavailable when
// its connection went (as in rpc.Server.MethodStats)" (docs/OPERATIONS.md, "Metrics").
// A handler that ends with its context's error when the connection goes is recorded
// canceled instead.
func TestStreamWhoseConnectionWentIsUnavailable(t *testing.T) {
	tel := newTelemetry(t)
	w := watcher{running: make(chan struct{}, 1)}
	s, addr := serveWatcher(t, tel, w)
	paddr, cut := cutProxy(t, addr)
	c := rawClient(t, tel, paddr)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for _, err := range streams.NewFeedClient(c).Ticks(context.Background(), 0) {
			if err != nil {
				return
			}
		}
	}()
	waitStarted(t, w.running)
	cut()
	<-done
	if got := streamOutcome(t, tel); got != "unavailable" {
		t.Errorf("rpc.server.call.duration of a stream whose connection went: %s, want unavailable", got)
	}
	if codes := ticksCodes(s); codes["unavailable"] != 1 {
		t.Errorf("MethodStats (the debug page) of Ticks: errors by code %v, want one unavailable", codes)
	}
}

// A stream its opener reset (the caller stopped ranging) whose handler then ends
// with an error of its own is recorded with that error's code instead of canceled.
func TestStreamResetIsCanceledWhateverTheHandlerReturned(t *testing.T) {
	tel := newTelemetry(t)
	w := watcher{running: make(chan struct{}, 1)}
	s, addr := serveWatcher(t, tel, w)
	c := rawClient(t, tel, addr)
	for _, err := range streams.NewFeedClient(c).Ticks(context.Background(), 1) {
		if err != nil {
			t.Fatal(err)
		}
		break // resets the stream
	}
	waitStarted(t, w.running)
	if got := streamOutcome(t, tel); got != "canceled" {
		t.Errorf("rpc.server.call.duration of a stream its opener reset: %s, want canceled", got)
	}
	if codes := ticksCodes(s); codes["canceled"] != 1 {
		t.Errorf("MethodStats (the debug page) of Ticks: errors by code %v, want one canceled", codes)
	}
}

func waitStarted(t *testing.T, ch <-chan struct{}) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatal("the stream's handler never ran")
	}
}
