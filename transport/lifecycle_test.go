package transport

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"errors"
	"math/big"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestOversizedFrameClosesOnlyThatConnection(t *testing.T) {
	_, addr := startServer(t, ServerOptions{ConnOptions: ConnOptions{MaxFrameSize: 1024}}, func(s *Server) {
		must(t, s.RegisterProcessor(codeEcho, echo, PoolOptions{}))
	})
	tests := []struct {
		name  string
		bytes []byte
	}{
		{"announces too much", []byte{0x7f, 0xff, 0xff, 0xff}},
		{"negative length", []byte{0xff, 0xff, 0xff, 0xf0}},
		{"bad header length", []byte{0, 0, 0, 8, 1, 0, 0, 200, 0, 0, 0, 0}},
		{"garbage JSON", rawFrame(SerializeJSON, []byte("{nope"), nil)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			nc := rawDial(t, addr)
			_, err := nc.Write(tc.bytes)
			must(t, err)
			nc.SetReadDeadline(time.Now().Add(10 * time.Second))
			var b [1]byte
			if _, err := nc.Read(b[:]); !errors.Is(err, net.ErrClosed) && err.Error() != "EOF" && !strings.Contains(err.Error(), "reset") {
				t.Fatalf("read after a bad frame: %v, want the connection closed", err)
			}
		})
	}
	// The server still serves other connections.
	cl := newTestClient(t, ClientOptions{})
	if _, err := cl.InvokeSync(context.Background(), addr, NewRequest(codeEcho, nil, nil)); err != nil {
		t.Fatal(err)
	}
	// A sender refuses to send what the peer would refuse, small limits included.
	for _, tc := range []struct{ limit, body int }{{1024, 2000}, {100, 200}} {
		small := newTestClient(t, ClientOptions{ConnOptions: ConnOptions{MaxFrameSize: tc.limit}})
		_, err := small.InvokeSync(context.Background(), addr, NewRequest(codeEcho, nil, make([]byte, tc.body)))
		if !errors.Is(err, ErrFrameTooLarge) {
			t.Fatalf("%d bytes with a limit of %d: %v", tc.body, tc.limit, err)
		}
		if _, err := small.InvokeSync(context.Background(), addr, NewRequest(codeEcho, nil, make([]byte, 10))); err != nil {
			t.Fatalf("a small call after a refused one: %v", err)
		}
	}
}

func TestOnewayIsNeverAnswered(t *testing.T) {
	_, addr := startServer(t, ServerOptions{}, func(s *Server) {
		must(t, s.RegisterProcessor(codeEcho, echo, PoolOptions{}))
		must(t, s.RegisterProcessor(codePanic, ProcessorFunc(func(context.Context, *Conn, *Command) (*Command, error) { panic("x") }), PoolOptions{}))
	})
	nc := rawDial(t, addr)
	var frames []byte
	for _, c := range []*Command{
		{Code: codeEcho, Opaque: 1, Flag: FlagOneway},
		{Code: 999, Opaque: 2, Flag: FlagOneway},       // unknown code
		{Code: codePanic, Opaque: 3, Flag: FlagOneway}, // panics
		{Code: codeEcho, Opaque: 4},
	} {
		var err error
		frames, err = AppendFrame(frames, c, SerializeRocketMQ)
		must(t, err)
	}
	_, err := nc.Write(frames)
	must(t, err)
	if resp := readRawFrame(t, nc); resp.Opaque != 4 || !resp.IsResponse() {
		t.Fatalf("first frame back is %v, want the response to opaque 4 only", resp)
	}
}

func TestServerInitiatedRequests(t *testing.T) {
	srv, addr := startServer(t, ServerOptions{}, func(s *Server) {
		// Answers by asking the client first, over the same connection.
		must(t, s.RegisterProcessor(codeEcho, ProcessorFunc(func(ctx context.Context, c *Conn, req *Command) (*Command, error) {
			back, err := c.InvokeSync(ctx, NewRequest(99, nil, []byte("who are you?")))
			if err != nil {
				return nil, err
			}
			resp := NewResponse(req, CodeSuccess, "")
			resp.Body = append([]byte("client said: "), back.Body...)
			return resp, nil
		}), PoolOptions{}))
	})
	oneway := make(chan string, 1)
	cl := newTestClient(t, ClientOptions{})
	must(t, cl.RegisterProcessor(99, ProcessorFunc(func(_ context.Context, _ *Conn, req *Command) (*Command, error) {
		if req.IsOneway() {
			oneway <- string(req.Body)
			return nil, nil
		}
		resp := NewResponse(req, CodeSuccess, "")
		resp.Body = []byte("a client")
		return resp, nil
	}), PoolOptions{}))
	resp, err := cl.InvokeSync(context.Background(), addr, NewRequest(codeEcho, nil, nil))
	must(t, err)
	if string(resp.Body) != "client said: a client" {
		t.Fatalf("got %q", resp.Body)
	}
	if err := cl.RegisterProcessor(100, echo, PoolOptions{}); !errors.Is(err, ErrRegistered) {
		t.Fatalf("registration after use: %v", err)
	}
	conns := srv.Conns()
	if len(conns) != 1 {
		t.Fatalf("%d server connections", len(conns))
	}
	done := make(chan *Command, 1)
	conns[0].InvokeAsync(context.Background(), NewRequest(99, nil, nil), func(r *Command, err error) {
		must(t, err)
		done <- r
	})
	if r := waitFor(t, done, "server async call"); string(r.Body) != "a client" {
		t.Fatalf("async back: %v", r)
	}
	must(t, conns[0].InvokeOneway(context.Background(), NewRequest(99, nil, []byte("psst"))))
	if got := waitFor(t, oneway, "server oneway"); got != "psst" {
		t.Fatal(got)
	}
	// A code the client has no processor for is answered as Java would.
	r, err := conns[0].InvokeSync(context.Background(), NewRequest(5, nil, nil))
	must(t, err)
	if r.Code != CodeRequestCodeNotSupported {
		t.Fatalf("unknown code to client: %v", r)
	}
}

func TestRegistration(t *testing.T) {
	s := NewServer(ServerOptions{})
	defer s.Close()
	must(t, s.RegisterProcessor(1, echo, PoolOptions{}))
	must(t, s.RegisterDefaultProcessor(echo, PoolOptions{}))
	for name, err := range map[string]error{
		"duplicate code":    s.RegisterProcessor(1, echo, PoolOptions{}),
		"duplicate default": s.RegisterDefaultProcessor(echo, PoolOptions{}),
		"nil processor":     s.RegisterProcessor(2, nil, PoolOptions{}),
	} {
		if !errors.Is(err, ErrRegistered) {
			t.Errorf("%s: %v, want ErrRegistered", name, err)
		}
	}
}

func TestDefaultProcessor(t *testing.T) {
	_, addr := startServer(t, ServerOptions{}, func(s *Server) { must(t, s.RegisterDefaultProcessor(echo, PoolOptions{})) })
	cl := newTestClient(t, ClientOptions{})
	resp, err := cl.InvokeSync(context.Background(), addr, NewRequest(4242, nil, []byte("any")))
	must(t, err)
	if resp.Code != CodeSuccess || string(resp.Body) != "any" {
		t.Fatal(resp)
	}
}

func TestShutdownDrainsInFlightCalls(t *testing.T) {
	srv, addr, started, release := blockingServer(t, ServerOptions{}, PoolOptions{})
	cl := newTestClient(t, ClientOptions{})
	inflight := make(chan *Command, 1)
	cl.InvokeAsync(context.Background(), addr, NewRequest(codeBlock, nil, nil), func(r *Command, err error) {
		must(t, err)
		inflight <- r
	})
	waitFor(t, started, "in-flight call")
	shut := make(chan error, 1)
	go func() { shut <- srv.Shutdown(context.Background()) }()
	// New requests are turned away, unprocessed: answered GO_AWAY on the open
	// connection, or, once the going-away notice arrived, never sent on it (the new
	// connection they ask for is refused).
	for {
		late, err := cl.InvokeSync(context.Background(), addr, NewRequest(codeEcho, nil, nil))
		if errors.Is(err, ErrConnectFailed) || err == nil && late.Code == CodeGoAway {
			break
		}
		must(t, err)
	}
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned %v with a call in flight", err)
	default:
	}
	close(release)
	if r := waitFor(t, inflight, "drained call"); r.Code != CodeSuccess || r.Remark != "released" {
		t.Fatalf("in-flight call got %v", r)
	}
	must(t, waitFor(t, shut, "Shutdown"))
	// After GO_AWAY the client dials again, and the server is gone.
	if _, err := cl.InvokeSync(context.Background(), addr, NewRequest(codeEcho, nil, nil)); !errors.Is(err, ErrConnectFailed) {
		t.Fatalf("call after shutdown: %v", err)
	}
}

func TestShutdownCapped(t *testing.T) {
	srv, addr, started, _ := blockingServer(t, ServerOptions{}, PoolOptions{})
	cl := newTestClient(t, ClientOptions{})
	failed := make(chan error, 1)
	cl.InvokeAsync(context.Background(), addr, NewRequest(codeBlock, nil, nil), func(_ *Command, err error) { failed <- err })
	waitFor(t, started, "in-flight call")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := srv.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := waitFor(t, failed, "cut call"); !errors.Is(err, ErrConnectionLost) {
		t.Fatalf("call cut by shutdown: %v", err)
	}
}

func TestClientCloseFailsPendingCalls(t *testing.T) {
	_, addr, started, _ := blockingServer(t, ServerOptions{}, PoolOptions{})
	cl := NewClient(ClientOptions{ConnOptions: ConnOptions{Logger: quiet}})
	errs := make(chan error, 2)
	go func() {
		_, err := cl.InvokeSync(context.Background(), addr, NewRequest(codeBlock, nil, nil))
		errs <- err
	}()
	waitFor(t, started, "call")
	cl.InvokeAsync(context.Background(), addr, NewRequest(codeBlock, nil, nil), func(_ *Command, err error) { errs <- err })
	waitFor(t, started, "call")
	must(t, cl.Close())
	for range 2 {
		if err := waitFor(t, errs, "failed call"); !errors.Is(err, ErrClosed) {
			t.Fatalf("pending call after Close: %v, want ErrClosed", err)
		}
	}
	if _, err := cl.InvokeSync(context.Background(), addr, NewRequest(codeEcho, nil, nil)); !errors.Is(err, ErrClosed) {
		t.Fatalf("call after Close: %v", err)
	}
}

// countingListener counts accepted connections.
type countingListener struct {
	net.Listener
	n atomic.Int32
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

func TestDialOnceAndReconnect(t *testing.T) {
	s := NewServer(ServerOptions{ConnOptions: ConnOptions{Logger: quiet}})
	must(t, s.RegisterProcessor(codeEcho, echo, PoolOptions{}))
	raw, err := Listen("127.0.0.1:0")
	must(t, err)
	ln := &countingListener{Listener: raw}
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	defer func() { s.Close(); <-served }()
	addr := raw.Addr().String()

	cl := newTestClient(t, ClientOptions{})
	var wg sync.WaitGroup
	gate := make(chan struct{})
	for range 50 {
		wg.Go(func() {
			<-gate
			if _, err := cl.InvokeSync(context.Background(), addr, NewRequest(codeEcho, nil, nil)); err != nil {
				t.Error(err)
			}
		})
	}
	close(gate)
	wg.Wait()
	if n := ln.n.Load(); n != 1 {
		t.Fatalf("50 concurrent first calls dialled %d times, want 1", n)
	}
	c, err := cl.Conn(context.Background(), addr)
	must(t, err)
	s.Conns()[0].Close()
	waitFor(t, c.Closed(), "client side to see the close")
	if _, err := cl.InvokeSync(context.Background(), addr, NewRequest(codeEcho, nil, nil)); err != nil {
		t.Fatalf("call after the connection died: %v", err)
	}
	if n := ln.n.Load(); n != 2 {
		t.Fatalf("%d dials, want a reconnect", n)
	}
}

func TestIdleConnectionCloses(t *testing.T) {
	_, addr := startServer(t, ServerOptions{}, func(s *Server) { must(t, s.RegisterProcessor(codeEcho, echo, PoolOptions{})) })
	cl := newTestClient(t, ClientOptions{ConnOptions: ConnOptions{IdleTimeout: 50 * time.Millisecond}})
	_, err := cl.InvokeSync(context.Background(), addr, NewRequest(codeEcho, nil, nil))
	must(t, err)
	c, err := cl.Conn(context.Background(), addr)
	must(t, err)
	waitFor(t, c.Closed(), "idle close")
	if !strings.Contains(c.Err().Error(), "IdleTimeout") {
		t.Fatalf("idle close error: %v", c.Err())
	}
}

type recordingHook struct {
	mu     sync.Mutex
	events []string
	fail   string
}

func (h *recordingHook) BeforeRequest(addr string, req *Command) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.events = append(h.events, "before")
	if h.fail == "before" {
		return errors.New("hook says no")
	}
	return nil
}

func (h *recordingHook) AfterResponse(addr string, req, resp *Command) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.events = append(h.events, "after:"+resp.Remark)
	if h.fail == "after" {
		return errors.New("hook rejects the response")
	}
	return nil
}

func TestHooks(t *testing.T) {
	serverHook := &recordingHook{}
	_, addr := startServer(t, ServerOptions{ConnOptions: ConnOptions{Hooks: []Hook{serverHook}}}, func(s *Server) {
		must(t, s.RegisterProcessor(codeEcho, ProcessorFunc(func(_ context.Context, _ *Conn, req *Command) (*Command, error) {
			return NewResponse(req, CodeSuccess, "ok"), nil
		}), PoolOptions{}))
	})
	clientHook := &recordingHook{}
	cl := newTestClient(t, ClientOptions{ConnOptions: ConnOptions{Hooks: []Hook{clientHook}}})
	_, err := cl.InvokeSync(context.Background(), addr, NewRequest(codeEcho, nil, nil))
	must(t, err)
	for name, h := range map[string]*recordingHook{"client": clientHook, "server": serverHook} {
		if got := strings.Join(h.events, ","); got != "before,after:ok" {
			t.Errorf("%s hook saw %s", name, got)
		}
	}
	clientHook.fail = "after"
	if _, err := cl.InvokeSync(context.Background(), addr, NewRequest(codeEcho, nil, nil)); err == nil || !strings.Contains(err.Error(), "rejects") {
		t.Fatalf("client after-hook error: %v", err)
	}
	clientHook.fail = ""
	serverHook.fail = "before"
	resp, err := cl.InvokeSync(context.Background(), addr, NewRequest(codeEcho, nil, nil))
	must(t, err)
	if resp.Code != CodeSystemError || resp.Remark != "hook says no" {
		t.Fatalf("server before-hook error answered %v", resp)
	}
}

func TestTLS(t *testing.T) {
	cert, pool := selfSigned(t)
	tests := []struct {
		name   string
		server *tls.Config
		client *tls.Config
		ok     bool
	}{
		{"tls", &tls.Config{Certificates: []tls.Certificate{cert}}, &tls.Config{RootCAs: pool, ServerName: "localhost"}, true},
		{"mutual tls", &tls.Config{Certificates: []tls.Certificate{cert}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool},
			&tls.Config{RootCAs: pool, ServerName: "localhost", Certificates: []tls.Certificate{cert}}, true},
		{"mutual tls without a client certificate", &tls.Config{Certificates: []tls.Certificate{cert}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool},
			&tls.Config{RootCAs: pool, ServerName: "localhost"}, false},
		{"untrusted server", &tls.Config{Certificates: []tls.Certificate{cert}}, &tls.Config{ServerName: "localhost"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, addr := startServer(t, ServerOptions{ConnOptions: ConnOptions{TLS: tc.server}}, func(s *Server) {
				must(t, s.RegisterProcessor(codeEcho, echo, PoolOptions{}))
			})
			cl := newTestClient(t, ClientOptions{ConnOptions: ConnOptions{TLS: tc.client, Timeout: 5 * time.Second}})
			resp, err := cl.InvokeSync(context.Background(), addr, NewRequest(codeEcho, nil, []byte("secret")))
			if tc.ok {
				must(t, err)
				if string(resp.Body) != "secret" {
					t.Fatal(resp)
				}
			} else if err == nil {
				t.Fatal("call succeeded, want a TLS failure")
			}
		})
	}
}

func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(t, err)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "ringrpc test"},
		DNSNames:              []string{"localhost"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IsCA:                  true,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	must(t, err)
	leaf, err := x509.ParseCertificate(der)
	must(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

func TestUnmatchedResponseIsDropped(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	defer ln.Close()
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		var pre [4]byte
		if _, err := nc.Read(pre[:]); err != nil {
			return
		}
		rest := make([]byte, binary.BigEndian.Uint32(pre[:]))
		if _, err := ioReadFull(nc, rest); err != nil {
			return
		}
		req, _, _ := ParseFrame(append(pre[:], rest...), 0)
		stray, _ := AppendFrame(nil, &Command{Flag: FlagResponse, Opaque: req.Opaque + 1000}, SerializeJSON)
		real, _ := AppendFrame(nil, &Command{Flag: FlagResponse, Opaque: req.Opaque, Remark: "mine"}, SerializeJSON)
		nc.Write(append(stray, real...))
		var b [1]byte
		nc.Read(b[:]) // until the client goes
	}()
	cl := newTestClient(t, ClientOptions{})
	resp, err := cl.InvokeSync(context.Background(), ln.Addr().String(), NewRequest(codeEcho, nil, nil))
	must(t, err)
	if resp.Remark != "mine" || resp.Serialize != SerializeJSON {
		t.Fatalf("got %v", resp)
	}
}

// A client forgets an address once it has no connection to it, whether the dial
// failed or the connection closed, so addresses of departed peers do not pile up.
func TestClientForgetsUnusedAddresses(t *testing.T) {
	_, addr := startServer(t, ServerOptions{}, func(s *Server) { must(t, s.RegisterProcessor(codeEcho, echo, PoolOptions{})) })
	cl := newTestClient(t, ClientOptions{PoolSize: 2})
	known := func() int { return len(*cl.slots.Load()) }

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	dead := ln.Addr().String()
	ln.Close()
	if _, err := cl.InvokeSync(context.Background(), dead, NewRequest(codeEcho, nil, nil)); !errors.Is(err, ErrConnectFailed) {
		t.Fatalf("call to a closed port: %v, want ErrConnectFailed", err)
	}
	if n := known(); n != 0 {
		t.Fatalf("%d addresses kept after a failed dial, want 0", n)
	}

	var conns []*Conn
	for range 2 {
		c, err := cl.Conn(context.Background(), addr)
		must(t, err)
		conns = append(conns, c)
	}
	if n := known(); n != 1 {
		t.Fatalf("%d addresses known, want 1", n)
	}
	conns[0].Close()
	if n := known(); n != 1 {
		t.Fatal("address forgotten while a connection to it was open")
	}
	conns[1].Close()
	if n := known(); n != 0 {
		t.Fatalf("%d addresses kept after their connections closed, want 0", n)
	}
	if _, err := cl.InvokeSync(context.Background(), addr, NewRequest(codeEcho, nil, nil)); err != nil {
		t.Fatalf("call after the address was forgotten: %v", err)
	}
}

// While Shutdown waits for requests in flight, a connection that has none, and has
// read nothing for goAwayQuiet, is closed then: not when the server's last request
// elsewhere finishes.
func TestShutdownClosesIdleConnectionsWhileOthersDrain(t *testing.T) {
	srv, addr, started, release := blockingServer(t, ServerOptions{}, PoolOptions{})
	busy, idle := newTestClient(t, ClientOptions{}), newTestClient(t, ClientOptions{})
	inflight := make(chan string, 1)
	busy.InvokeAsync(context.Background(), addr, NewRequest(codeBlock, nil, nil), func(r *Command, err error) {
		if err != nil {
			inflight <- err.Error()
			return
		}
		inflight <- r.Remark
	})
	waitFor(t, started, "in-flight call")
	conn, err := idle.Conn(context.Background(), addr)
	must(t, err)
	if _, err := conn.InvokeSync(context.Background(), NewRequest(codeEcho, nil, nil)); err != nil {
		t.Fatal(err)
	}
	shut := make(chan error, 1)
	start := time.Now()
	go func() { shut <- srv.Shutdown(context.Background()) }()
	select {
	case <-conn.exited:
	case <-time.After(maxGoAwayWait + time.Second):
		t.Fatalf("the idle connection was still open %v into Shutdown", time.Since(start))
	}
	if waited := time.Since(start); waited > maxGoAwayWait {
		t.Errorf("the idle connection closed %v into Shutdown, want at most %v", waited, maxGoAwayWait)
	}
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned %v with a call in flight", err)
	default:
	}
	close(release)
	if r := waitFor(t, inflight, "drained call"); r != "released" {
		t.Fatalf("in-flight call got %q", r)
	}
	must(t, waitFor(t, shut, "Shutdown"))
}
