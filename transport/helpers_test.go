package transport

import (
	"context"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.Cleanup(func(int) { benchCleanup() }))
}

const (
	codeEcho  int32 = 10
	codeBlock int32 = 11
	codePanic int32 = 12
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// echo answers with the request's body and extFields, turning the request itself into
// the response as a processor may: the benchmarks measure the transport, not an
// allocation of the processor's.
var echo = ProcessorFunc(func(_ context.Context, _ *Conn, req *Command) (*Command, error) {
	req.Code, req.Remark = CodeSuccess, ""
	return req, nil
})

// startServer serves on a loopback ephemeral port until the test ends.
func startServer(t testing.TB, opts ServerOptions, register func(*Server)) (*Server, string) {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = quiet
	}
	s := NewServer(opts)
	if register != nil {
		register(s)
	}
	ln, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	t.Cleanup(func() {
		s.Close()
		if err := <-served; err != ErrServerClosed {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	})
	return s, ln.Addr().String()
}

func newTestClient(t testing.TB, opts ClientOptions) *Client {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = quiet
	}
	c := NewClient(opts)
	t.Cleanup(func() { c.Close() })
	return c
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// waitFor fails the test if ch does not deliver within a generous bound.
func waitFor[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// rawDial opens a plain TCP connection for speaking bytes at a server.
func rawDial(t testing.TB, addr string) net.Conn {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return nc
}

func readRawFrame(t testing.TB, nc net.Conn) *Command {
	t.Helper()
	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	var pre [4]byte
	if _, err := io.ReadFull(nc, pre[:]); err != nil {
		t.Fatalf("reading a frame: %v", err)
	}
	rest := make([]byte, beUint32(pre[:]))
	if _, err := io.ReadFull(nc, rest); err != nil {
		t.Fatalf("reading a frame: %v", err)
	}
	c, _, err := ParseFrame(append(pre[:], rest...), 0)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func ioReadFull(r io.Reader, b []byte) (int, error) { return io.ReadFull(r, b) }
