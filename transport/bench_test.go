package transport

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"github.com/ringrpc/ringrpc/internal/callers"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// The end-to-end benchmarks run the server in a child process (this test binary with
// benchServerEnv set), so that -benchmem counts the client side only.
const benchServerEnv = "RINGRPC_TRANSPORT_BENCH_SERVER"

// benchServerProfileEnv names a file for the bench server's CPU profile, so the server
// side can be profiled like the client: RINGRPC_TRANSPORT_BENCH_PROFILE=server.pprof.
const benchServerProfileEnv = "RINGRPC_TRANSPORT_BENCH_PROFILE"

// benchServerCPUsEnv lists the CPUs the bench server runs on (taskset -c syntax), so
// that client and server can each have cores of their own, as on two hosts:
// `make bench-transport` runs the client on CPU 0 and the server on CPU 1. Left unset,
// both share every core, and each process's idle threads spin on the other's time.
const benchServerCPUsEnv = "RINGRPC_TRANSPORT_BENCH_SERVER_CPUS"

func init() {
	if os.Getenv(benchServerEnv) == "1" {
		runBenchServer()
		os.Exit(0)
	}
}

// runBenchServer serves the transport echo and the raw echo until stdin closes.
func runBenchServer() {
	s := NewServer(ServerOptions{ConnOptions: ConnOptions{Logger: quiet}})
	s.RegisterProcessor(codeEcho, echo, PoolOptions{})
	ln, err := Listen("127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	go s.Serve(ln)
	go rawEchoServe(raw)
	defer callers.ProfileFromEnv(benchServerProfileEnv)()
	fmt.Printf("%s %s\n", ln.Addr(), raw.Addr())
	io.Copy(io.Discard, os.Stdin)
	raw.Close()
	s.Close()
}

// rawEchoServe answers length-prefixed frames with themselves, flushing when its
// input runs dry: the ceiling for a framed request/response protocol on one connection.
func rawEchoServe(ln net.Listener) {
	for {
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer nc.Close()
			br := bufio.NewReaderSize(nc, 64<<10)
			bw := bufio.NewWriterSize(nc, 64<<10)
			buf := make([]byte, 0, 1024)
			for {
				var pre [4]byte
				if _, err := io.ReadFull(br, pre[:]); err != nil {
					return
				}
				n := binary.BigEndian.Uint32(pre[:])
				buf = buf[:n]
				if _, err := io.ReadFull(br, buf); err != nil {
					return
				}
				bw.Write(pre[:])
				bw.Write(buf)
				if br.Buffered() == 0 && bw.Flush() != nil {
					return
				}
			}
		}()
	}
}

var benchAddrs struct {
	once      sync.Once
	transport string
	raw       string
	err       error
}

func benchServer(b *testing.B) (transportAddr, rawAddr string) {
	benchAddrs.once.Do(func() {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		if cpus := os.Getenv(benchServerCPUsEnv); cpus != "" {
			cmd = exec.Command("taskset", "-c", cpus, os.Args[0], "-test.run=^$")
		}
		cmd.Env = append(os.Environ(), benchServerEnv+"=1")
		stdin, _ := cmd.StdinPipe()
		stdout, _ := cmd.StdoutPipe()
		cmd.Stderr = os.Stderr
		if benchAddrs.err = cmd.Start(); benchAddrs.err != nil {
			return
		}
		line, err := bufio.NewReader(stdout).ReadString('\n')
		if err != nil {
			benchAddrs.err = fmt.Errorf("bench server: %w", err)
			return
		}
		f := strings.Fields(line)
		benchAddrs.transport, benchAddrs.raw = f[0], f[1]
		benchCleanup = func() { stdin.Close(); cmd.Wait() }
	})
	if benchAddrs.err != nil {
		b.Fatal(benchAddrs.err)
	}
	return benchAddrs.transport, benchAddrs.raw
}

// benchCleanup stops the bench server; TestMain's goleak check runs after it.
var benchCleanup = func() {}

var benchConcurrency = []int{1, 16, 100}

func BenchmarkInvokeSync(b *testing.B) {
	addr, _ := benchServer(b)
	body := make([]byte, 64)
	for _, n := range benchConcurrency {
		b.Run(fmt.Sprintf("callers=%d", n), func(b *testing.B) {
			cl := NewClient(ClientOptions{ConnOptions: ConnOptions{Logger: quiet}})
			defer cl.Close()
			req := NewRequest(codeEcho, nil, body)
			ctx := context.Background()
			if _, err := cl.InvokeSync(ctx, addr, req); err != nil {
				b.Fatal(err)
			}
			callers.Run(b, n, func() error {
				_, err := cl.InvokeSync(ctx, addr, req)
				return err
			})
		})
	}
}

// BenchmarkInvokeSyncLarge echoes bodies far larger than a socket's unsent bound, so
// that each is written over many wake-ups of the writer.
func BenchmarkInvokeSyncLarge(b *testing.B) {
	addr, _ := benchServer(b)
	body := make([]byte, 1<<20)
	for _, n := range []int{1, 8} {
		b.Run(fmt.Sprintf("callers=%d", n), func(b *testing.B) {
			cl := NewClient(ClientOptions{ConnOptions: ConnOptions{Logger: quiet}})
			defer cl.Close()
			req := NewRequest(codeEcho, nil, body)
			ctx := context.Background()
			if _, err := cl.InvokeSync(ctx, addr, req); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(2 << 20)
			callers.Run(b, n, func() error {
				_, err := cl.InvokeSync(ctx, addr, req)
				return err
			})
		})
	}
}

func BenchmarkRawEcho(b *testing.B) {
	_, addr := benchServer(b)
	frame := binary.BigEndian.AppendUint32(nil, 64+4)
	frame = append(frame, make([]byte, 64+4)...)
	for _, n := range benchConcurrency {
		b.Run(fmt.Sprintf("callers=%d", n), func(b *testing.B) {
			rc, err := newRawClient(addr, n, frame)
			if err != nil {
				b.Fatal(err)
			}
			defer rc.close()
			var next sync.Mutex
			id := 0
			callers.Run(b, n, func() error {
				next.Lock()
				my := id
				id++
				next.Unlock()
				return rc.call(my % n)
			})
		})
	}
}

// rawClient pipelines pre-encoded frames on one connection with the same write
// coalescing as Conn, and matches echoes by a slot id in the payload: the same I/O
// strategy without the protocol.
type rawClient struct {
	nc    net.Conn
	frame []byte
	mu    sync.Mutex
	buf   []byte
	wake  chan struct{}
	slots []chan struct{}
	done  chan struct{}
	wg    sync.WaitGroup
}

func newRawClient(addr string, slots int, frame []byte) (*rawClient, error) {
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	rc := &rawClient{nc: nc, frame: frame, wake: make(chan struct{}, 1), done: make(chan struct{})}
	for range slots {
		rc.slots = append(rc.slots, make(chan struct{}, 1))
	}
	rc.wg.Add(2)
	go rc.writeLoop()
	go rc.readLoop()
	return rc, nil
}

func (rc *rawClient) call(slot int) error {
	rc.mu.Lock()
	at := len(rc.buf)
	rc.buf = append(rc.buf, rc.frame...)
	binary.BigEndian.PutUint32(rc.buf[at+4:], uint32(slot))
	rc.mu.Unlock()
	select {
	case rc.wake <- struct{}{}:
	default:
	}
	<-rc.slots[slot]
	return nil
}

func (rc *rawClient) writeLoop() {
	defer rc.wg.Done()
	var spare []byte
	for {
		select {
		case <-rc.wake:
		case <-rc.done:
			return
		}
		runtime.Gosched() // the same batching as Conn's writer
		rc.mu.Lock()
		buf := rc.buf
		rc.buf = spare[:0]
		rc.mu.Unlock()
		if _, err := rc.nc.Write(buf); err != nil {
			return
		}
		spare = buf
	}
}

func (rc *rawClient) readLoop() {
	defer rc.wg.Done()
	br := bufio.NewReaderSize(rc.nc, 64<<10)
	buf := make([]byte, len(rc.frame))
	for {
		if _, err := io.ReadFull(br, buf); err != nil {
			return
		}
		rc.slots[binary.BigEndian.Uint32(buf[4:])] <- struct{}{}
	}
}

func (rc *rawClient) close() {
	close(rc.done)
	rc.nc.Close()
	rc.wg.Wait()
}

func BenchmarkCodec(b *testing.B) {
	cmd := NewRequest(0, FieldsOf(map[string]string{"interfaceName": "example.com/shop/cart.Cart", "methodName": "AddItem", "ringrpc.timeout": "3000"}), make([]byte, 64))
	cmd.Opaque = 12345
	for _, typ := range []SerializeType{SerializeRocketMQ, SerializeJSON} {
		frame, err := AppendFrame(nil, cmd, typ)
		if err != nil {
			b.Fatal(err)
		}
		b.Run("encode/"+typ.String(), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(frame)))
			buf := make([]byte, 0, 512)
			for b.Loop() {
				buf, _ = AppendFrame(buf[:0], cmd, typ)
			}
		})
		b.Run("decode/"+typ.String(), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(frame)))
			for b.Loop() {
				if _, _, err := ParseFrame(frame, 0); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
