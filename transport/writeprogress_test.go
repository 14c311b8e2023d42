package transport

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"strings"
	"testing"
	"time"
)

// bigRequestFrame is a request for codeBig, as a raw peer sends it.
func bigRequestFrame(t testing.TB) []byte {
	t.Helper()
	req := NewRequest(codeBig, nil, nil)
	req.Opaque = 1
	b, err := AppendFrame(nil, req, SerializeRocketMQ)
	must(t, err)
	return b
}

// slowPeer dials addr with a small receive buffer, over TLS when tc is set, and asks
// for a codeBig answer.
func slowPeer(t *testing.T, addr string, tc *tls.Config) net.Conn {
	t.Helper()
	nc := rawDial(t, addr)
	must(t, nc.(*net.TCPConn).SetReadBuffer(32<<10))
	if tc != nil {
		nc = tls.Client(nc, tc)
	}
	_, err := nc.Write(bigRequestFrame(t))
	must(t, err)
	return nc
}

// TestSlowReaderKeepsItsConnection: WriteTimeout bounds the time the peer takes
// nothing, not the time a response takes to write. A peer that reads all the time, only
// slower than 4 MiB can be written within WriteTimeout, gets the whole response, over
// TCP and over TLS.
func TestSlowReaderKeepsItsConnection(t *testing.T) {
	cert, pool := selfSigned(t)
	for _, tc := range []struct {
		name           string
		server, client *tls.Config
	}{
		{"tcp", nil, nil},
		{"tls", &tls.Config{Certificates: []tls.Certificate{cert}}, &tls.Config{RootCAs: pool, ServerName: "localhost"}},
	} {
		t.Run(tc.name, func(t *testing.T) { slowReaderKeepsItsConnection(t, tc.server, tc.client) })
	}
}

func slowReaderKeepsItsConnection(t *testing.T, server, client *tls.Config) {
	const size, timeout = 4 << 20, 500 * time.Millisecond
	logs := newLogSink()
	opts := ServerOptions{ConnOptions: ConnOptions{Logger: logs.logger(), WriteTimeout: timeout, TLS: server}}
	_, addr := startServer(t, opts, func(s *Server) {
		must(t, s.RegisterProcessor(codeBig, bigAnswer(size), PoolOptions{}))
	})
	nc := slowPeer(t, addr, client)
	// 32 KiB every 10 ms, some 3 MiB/s: the write takes well over WriteTimeout, and
	// the peer never pauses for more than a few milliseconds.
	buf := make([]byte, 32<<10)
	got, start := 0, time.Now()
	for got < size {
		nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := nc.Read(buf)
		got += n
		if err != nil {
			t.Fatalf("after reading %d bytes in %v, never pausing: %v; %d log lines say the peer did not read",
				got, time.Since(start).Round(time.Millisecond), err, len(logs.matching("did not read its output")))
		}
		time.Sleep(10 * time.Millisecond) // the peer's pace, not a synchronisation
	}
	if took := time.Since(start); took < timeout {
		t.Errorf("the response was read in %v: the test needs it slower than WriteTimeout (%v)", took, timeout)
	}
}

// TestStalledReaderLosesItsConnection: a peer that reads part of a response and then
// stops is closed once it has taken nothing for WriteTimeout, and within twice that,
// with the log line naming it.
func TestStalledReaderLosesItsConnection(t *testing.T) {
	const size, timeout = 4 << 20, 300 * time.Millisecond
	logs := newLogSink()
	opts := ServerOptions{ConnOptions: ConnOptions{Logger: logs.logger(), WriteTimeout: timeout}}
	_, addr := startServer(t, opts, func(s *Server) {
		must(t, s.RegisterProcessor(codeBig, bigAnswer(size), PoolOptions{}))
	})
	nc := slowPeer(t, addr, nil)
	buf := make([]byte, 32<<10)
	got := 0
	for got < 1<<20 { // some of it, over several of the server's writes
		nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := nc.Read(buf)
		must(t, err)
		got += n
	}
	stopped := time.Now()
	logs.waitCount(t, "did not read its output", 1, 10*time.Second)
	took := time.Since(stopped)
	t.Logf("read %d bytes, then nothing: closed %v later (WriteTimeout %v)", got, took.Round(time.Millisecond), timeout)
	if took < timeout {
		t.Errorf("closed %v after the peer's last read, before WriteTimeout (%v)", took, timeout)
	}
	if slack := time.Second; took > 2*timeout+slack {
		t.Errorf("closed %v after the peer's last read, want within 2×WriteTimeout (%v) and %v", took, 2*timeout, slack)
	}
}

// TestShutdownIdleWithEndedContext: a server with nothing in flight and nothing
// queued loses nothing when it is shut down with a context that has already ended, and
// says nothing was cut.
func TestShutdownIdleWithEndedContext(t *testing.T) {
	var errs []string
	for range 10 {
		s, addr := startServer(t, ServerOptions{}, func(s *Server) {
			must(t, s.RegisterProcessor(codeEcho, echo, PoolOptions{}))
		})
		cl := newTestClient(t, ClientOptions{})
		_, err := cl.InvokeSync(context.Background(), addr, NewRequest(codeEcho, nil, nil))
		must(t, err)
		// The caller has its answer a moment before the handler is done with it.
		waitUntil(t, func() bool { return s.disp.inflight.Load() == 0 })
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := s.Shutdown(ctx); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if len(errs) > 0 {
		t.Errorf("%d of 10 Shutdowns of an idle server with an ended context failed, the first: %q", len(errs), errs[0])
	}
}

// TestShutdownWithEndedContextReportsUnwritten: a connection that still has output when
// Shutdown's context ends is closed with it unwritten, and Shutdown says so.
func TestShutdownWithEndedContextReportsUnwritten(t *testing.T) {
	s, addr := startServer(t, ServerOptions{}, func(s *Server) {
		must(t, s.RegisterProcessor(codeBig, bigAnswer(4<<20), PoolOptions{}))
	})
	slowPeer(t, addr, nil) // reads nothing
	waitUntil(t, func() bool {
		conns := s.Conns()
		return len(conns) == 1 && conns[0].w.hasOutput()
	})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := s.Shutdown(ctx)
	if err == nil || !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "cut short") {
		t.Fatalf("Shutdown with an ended context and 4 MiB unread: %v, want an error saying the flush was cut short by the context", err)
	}
}
