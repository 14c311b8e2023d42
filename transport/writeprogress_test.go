package transport

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"runtime"
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
	return slowPeerWith(t, addr, tc, 32<<10, 0)
}

// slowPeerWith is slowPeer with a receive buffer of rcvbuf bytes and, when mss is not
// 0, the segments the peer takes limited to mss bytes: on loopback they are 64 KiB,
// and a peer opens its receive window a segment, or half its buffer, at a time.
func slowPeerWith(t *testing.T, addr string, tc *tls.Config, rcvbuf, mss int) net.Conn {
	t.Helper()
	d := net.Dialer{Control: peerSocket(rcvbuf, mss)}
	nc, err := d.Dial("tcp", addr)
	must(t, err)
	t.Cleanup(func() { nc.Close() })
	if tc != nil {
		nc = tls.Client(nc, tc)
	}
	_, err = nc.Write(bigRequestFrame(t))
	must(t, err)
	return nc
}

// TestSlowReaderKeepsItsConnection: WriteTimeout bounds the time the peer takes
// nothing, not the time a response takes to write. A peer that reads all the time, only
// slower than 4 MiB can be written within WriteTimeout, gets the whole response, over
// TCP and over TLS, and so does one that takes too little at a time to wake the write.
func TestSlowReaderKeepsItsConnection(t *testing.T) {
	cert, pool := selfSigned(t)
	tlsServer, tlsClient := &tls.Config{Certificates: []tls.Certificate{cert}}, &tls.Config{RootCAs: pool, ServerName: "localhost"}
	for _, tc := range []struct {
		name           string
		server, client *tls.Config
		size, read     int           // the response, and what the peer reads at a time
		rcvbuf, mss    int           // the peer's receive buffer and segments (0: loopback's)
		pace, timeout  time.Duration // between the peer's reads; WriteTimeout
	}{
		// 32 KiB every 10 ms, some 3 MiB/s: the write takes well over WriteTimeout,
		// and the peer never pauses for more than a few milliseconds.
		{"tcp", nil, nil, 4 << 20, 32 << 10, 32 << 10, 0, 10 * time.Millisecond, 500 * time.Millisecond},
		{"tls", tlsServer, tlsClient, 4 << 20, 32 << 10, 32 << 10, 0, 10 * time.Millisecond, 500 * time.Millisecond},
		// 4 KiB every 100 ms, in segments of an Ethernet's size: the peer takes some
		// 20 KiB in a WriteTimeout, and the socket wakes a blocked write only once its
		// unsent bytes fall by half their bound, 32 KiB.
		{"tcp, a little at a time", nil, nil, 256 << 10, 4 << 10, 8 << 10, 1400, 100 * time.Millisecond, 500 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.mss > 0 && runtime.GOOS != "linux" {
				t.Skip("only Linux tells a socket's send queue: elsewhere a peer must take 32 KiB per WriteTimeout (docs/OPERATIONS.md)")
			}
			logs := newLogSink()
			opts := ServerOptions{ConnOptions: ConnOptions{Logger: logs.logger(), WriteTimeout: tc.timeout, TLS: tc.server}}
			_, addr := startServer(t, opts, func(s *Server) {
				must(t, s.RegisterProcessor(codeBig, bigAnswer(tc.size), PoolOptions{}))
			})
			nc := slowPeerWith(t, addr, tc.client, tc.rcvbuf, tc.mss)
			buf := make([]byte, tc.read)
			got, start := 0, time.Now()
			for got < tc.size {
				nc.SetReadDeadline(time.Now().Add(5 * time.Second))
				n, err := nc.Read(buf)
				got += n
				if err != nil {
					t.Fatalf("after reading %d bytes in %v, never pausing longer than %v: %v; %d log lines say the peer did not read",
						got, time.Since(start).Round(time.Millisecond), tc.pace, err, len(logs.matching("did not read its output")))
				}
				time.Sleep(tc.pace) // the peer's pace, not a synchronisation
			}
			if took := time.Since(start); took < tc.timeout {
				t.Errorf("the response was read in %v: the test needs it slower than WriteTimeout (%v)", took, tc.timeout)
			}
		})
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

// deadTLSConn fails writes as crypto/tls.Conn does once one timed out: the first
// hands on half of what it was given, then every write fails at once.
type deadTLSConn struct {
	net.Conn
	writes int
}

func (c *deadTLSConn) Write(b []byte) (int, error) {
	c.writes++
	if c.writes == 1 {
		return len(b) / 2, timeoutErr{}
	}
	return 0, timeoutErr{}
}

func (c *deadTLSConn) SetWriteDeadline(time.Time) error { return nil }

// TestTLSWriteEndsAtItsFirstTimeout: a TLS connection whose write timed out takes no
// more, so the writer gives up at once rather than retry until WriteTimeout passes.
func TestTLSWriteEndsAtItsFirstTimeout(t *testing.T) {
	nc := &deadTLSConn{}
	c := &Conn{nc: nc, cfg: &connConfig{writeTimeout: 200 * time.Millisecond, io: new(ioCounters)}}
	w := &c.w
	w.conn, w.chunk = c, writeChunk(nc)
	left, err := w.write(make([]byte, 64<<10))
	if !isTimeout(err) || left == 0 {
		t.Fatalf("write returned %d left, %v; want the timeout and what was left", left, err)
	}
	if nc.writes != 1 {
		t.Errorf("%d writes to a TLS connection whose first write timed out, want 1", nc.writes)
	}
}
