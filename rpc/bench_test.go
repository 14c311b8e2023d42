package rpc

import (
	"bufio"
	"context"
	"fmt"
	"github.com/ringrpc/ringrpc/internal/callers"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
)

// The benchmarks run the provider in a child process (this test binary with
// benchServerEnv set), so that -benchmem counts the caller's allocations only.
const benchServerEnv = "RINGRPC_RPC_BENCH_SERVER"

// benchServerProfileEnv names a file for the provider's CPU profile:
// RINGRPC_RPC_BENCH_PROFILE=provider.pprof go test -bench Hello ./rpc.
const benchServerProfileEnv = "RINGRPC_RPC_BENCH_PROFILE"

// benchAddrEnv names a provider started apart (with benchServerEnv=1), so that its
// runtime can be traced alone: RINGRPC_RPC_BENCH_ADDR=127.0.0.1:port go test -bench Hello ./rpc.
const benchAddrEnv = "RINGRPC_RPC_BENCH_ADDR"

func init() {
	if os.Getenv(benchServerEnv) == "1" {
		s := NewServer(ServerOptions{Logger: quiet})
		registerGreeter(s, newGreeter())
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			panic(err)
		}
		go s.Serve(ln)
		stopProfile := callers.ProfileFromEnv(benchServerProfileEnv)
		fmt.Println(ln.Addr())
		bufio.NewReader(os.Stdin).ReadString('\n') // until the parent closes stdin
		s.Close()
		stopProfile()
		os.Exit(0)
	}
}

var benchProvider struct {
	once sync.Once
	addr string
	err  error
}

func benchAddr(b *testing.B) string {
	benchProvider.once.Do(func() {
		if benchProvider.addr = os.Getenv(benchAddrEnv); benchProvider.addr != "" {
			return
		}
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), benchServerEnv+"=1")
		stdin, _ := cmd.StdinPipe()
		stdout, _ := cmd.StdoutPipe()
		cmd.Stderr = os.Stderr
		if benchProvider.err = cmd.Start(); benchProvider.err != nil {
			return
		}
		line, err := bufio.NewReader(stdout).ReadString('\n')
		benchProvider.addr, benchProvider.err = strings.TrimSpace(line), err
		benchCleanup = func() { stdin.Close(); cmd.Wait() }
	})
	if benchProvider.err != nil {
		b.Fatal(benchProvider.err)
	}
	return benchProvider.addr
}

// BenchmarkHello is the hello call through a client written as ringrpc-gen writes it.
func BenchmarkHello(b *testing.B) {
	addr := benchAddr(b)
	for _, n := range []int{1, 16, 100} {
		b.Run(fmt.Sprintf("callers=%d", n), func(b *testing.B) {
			c, err := NewClient(ClientOptions{Resolver: StaticAddress(addr)})
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			h := &greeterClient{c}
			ctx := context.Background()
			callers.Run(b, n, func() error {
				s, err := h.SayHello(ctx, "a", "b")
				if err == nil && s != "hello a b" {
					err = fmt.Errorf("got %q", s)
				}
				return err
			})
		})
	}
}

func BenchmarkHelloAsync(b *testing.B) {
	addr := benchAddr(b)
	c, err := NewClient(ClientOptions{Resolver: StaticAddress(addr)})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	callers.Run(b, 100, func() error {
		_, err := sayHelloAsync(c, ctx, "a", "b").Wait(ctx)
		return err
	})
}

func BenchmarkCodec(b *testing.B) {
	b.Run("encode/hello", func(b *testing.B) {
		b.ReportAllocs()
		var e Encoder
		buf := make([]byte, 0, 64)
		for b.Loop() {
			e.reset(buf[:0], true)
			e.String("a")
			e.String("b")
			buf, _ = e.finish()
		}
	})
	b.Run("decode/hello", func(b *testing.B) {
		b.ReportAllocs()
		body := []byte(`["a","b"]`)
		for b.Loop() {
			var x, y string
			d := newDecoder(body, true)
			d.String(&x)
			d.String(&y)
			if err := d.Finish(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkMemberFold reads member names that match their fields only without regard
// to case: ASCII ones, and ones with letters beyond ASCII.
func BenchmarkMemberFold(b *testing.B) {
	names := []string{"name", "alias", "count", "ratio", "größe", "Ωmega"}
	for _, tc := range []struct{ name, body string }{
		{"ascii", `{"NAME":1,"Alias":2,"COUNT":3,"Ratio":4}`},
		{"unicode", `{"GRÖẞE":1,"ωMEGA":2}`},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			body := []byte(tc.body)
			for b.Loop() {
				r := JSONReader{data: body}
				r.Object()
				for i := 0; ; i++ {
					f, ok := r.Member(i, names, -1)
					if !ok {
						break
					}
					if f < 0 {
						b.Fatal("no field matched")
					}
					var n int
					ReadInt(&r, &n)
				}
			}
		})
	}
}
