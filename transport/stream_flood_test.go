package transport

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The stream flood: floodConns hostile connections each open floodStreams streams,
// the most a connection may have open by default, and send every stream they are
// granted its window of floodMessage-byte messages, which the provider's handlers
// never take. The provider runs in a process of its own, with every default.
const (
	floodConns           = 500
	floodStreams         = 1000
	floodMessage         = 16 << 10
	floodRSSBound        = 512 << 20 // docs/OPERATIONS.md, "Streams"
	floodChildEnv        = "RINGRPC_STREAM_FLOOD_PROVIDER"
	codeStreamIdle int32 = 31
)

// idleStream holds the stream its request opened until the stream ends, taking none
// of its messages.
var idleStream = ProcessorFunc(func(ctx context.Context, conn *Conn, req *Command) (*Command, error) {
	if conn.InboundStream(req) == nil {
		return nil, fmt.Errorf("no stream")
	}
	<-ctx.Done()
	return nil, ctx.Err()
})

// floodStats is what the provider process reports of itself.
type floodStats struct {
	Streams    int64 // streams open
	Goroutines int
	StreamMem  int64 // bytes of stream messages buffered, charged to MaxStreamMemory
	StreamMax  int64
	MaxStreams int
	HeapInUse  uint64 // runtime.MemStats's, at the time of asking
	StackInUse uint64
	Sys        uint64
}

// TestStreamFloodProvider is the provider process of TestStreamFloodBoundsMemory: it
// serves with the defaults, prints its address, then answers each line on its stdin
// with its floodStats, and exits when stdin ends.
func TestStreamFloodProvider(t *testing.T) {
	if os.Getenv(floodChildEnv) != "1" {
		t.Skip("the provider process of TestStreamFloodBoundsMemory")
	}
	s := NewServer(ServerOptions{ConnOptions: ConnOptions{Logger: quiet}})
	must(t, s.RegisterProcessor(codeEcho, echo, PoolOptions{}))
	must(t, s.RegisterProcessor(codeStreamIdle, idleStream, PoolOptions{}))
	ln, err := Listen("127.0.0.1:0")
	must(t, err)
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	fmt.Println(ln.Addr())
	in := bufio.NewScanner(os.Stdin)
	enc := json.NewEncoder(os.Stdout)
	for in.Scan() {
		enc.Encode(providerStats(s))
	}
	s.Close()
	<-served
}

func providerStats(s *Server) floodStats {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return floodStats{
		HeapInUse:  ms.HeapInuse,
		StackInUse: ms.StackInuse,
		Sys:        ms.Sys,
		Streams:    s.disp.streamsOpen.Load(),
		Goroutines: runtime.NumGoroutine(),
		StreamMem:  s.cfg.streams.mem.used.Load(),
		StreamMax:  s.cfg.streams.mem.max,
		MaxStreams: s.cfg.streams.max,
	}
}

// floodProvider is the provider process, seen from the test.
type floodProvider struct {
	cmd  *exec.Cmd
	in   io.WriteCloser
	out  *bufio.Scanner
	addr string
}

func startFloodProvider(t *testing.T) *floodProvider {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestStreamFloodProvider$", "-test.v=false")
	cmd.Env = append(os.Environ(), floodChildEnv+"=1")
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	must(t, err)
	out, err := cmd.StdoutPipe()
	must(t, err)
	must(t, cmd.Start())
	p := &floodProvider{cmd: cmd, in: in, out: bufio.NewScanner(out)}
	t.Cleanup(p.stop)
	if !p.out.Scan() {
		t.Fatalf("the provider process printed no address: %v", p.out.Err())
	}
	p.addr = strings.TrimSpace(p.out.Text())
	return p
}

// stop ends the provider: it closes its server and exits once its stdin ends.
func (p *floodProvider) stop() {
	p.in.Close()
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		p.cmd.Process.Kill()
		<-done
	}
}

func (p *floodProvider) stats(t *testing.T) floodStats {
	t.Helper()
	if _, err := io.WriteString(p.in, "stats\n"); err != nil {
		t.Fatalf("asking the provider: %v", err)
	}
	for p.out.Scan() {
		line := p.out.Bytes()
		if !bytes.HasPrefix(line, []byte("{")) {
			continue
		}
		var s floodStats
		must(t, json.Unmarshal(line, &s))
		return s
	}
	t.Fatalf("the provider process ended: %v", p.out.Err())
	return floodStats{}
}

// memory returns the provider's resident set and its peak, in bytes.
func (p *floodProvider) memory(t *testing.T) (rss, peak int64) {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	must(t, err)
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "VmRSS:":
			rss = kb << 10
		case "VmHWM:":
			peak = kb << 10
		}
	}
	return rss, peak
}

// floodPeer is one hostile connection: it opens floodStreams streams, and sends every
// stream the provider grants as many messages as it was granted, reading everything
// the provider sends and taking nothing else into account.
type floodPeer struct {
	nc       net.Conn
	granted  chan int32 // the streams accepted, by id
	answered atomic.Int32
	accepted atomic.Int32
	decided  chan struct{} // closed once every opening was accepted or refused
}

func startFloodPeer(t *testing.T, addr string, wg *sync.WaitGroup) *floodPeer {
	nc, err := net.Dial("tcp", addr)
	must(t, err)
	p := &floodPeer{nc: nc, granted: make(chan int32, floodStreams), decided: make(chan struct{})}
	wg.Go(p.read)
	wg.Go(p.write)
	return p
}

func (p *floodPeer) write() {
	var b []byte
	for id := int32(1); id <= floodStreams; id++ {
		open := NewRequest(codeStreamIdle, Fields{{fieldStreamWindow, "64"}}, nil)
		open.Opaque, open.Flag = id, flagStream
		b, _ = AppendFrame(b, open, SerializeRocketMQ)
	}
	if _, err := p.nc.Write(b); err != nil {
		return
	}
	body := bytes.Repeat([]byte{'x'}, floodMessage)
	for id := range p.granted {
		sid := strconv.Itoa(int(id))
		for seq := 1; seq <= DefaultStreamWindow; seq++ {
			m := NewRequest(codeStreamUp, Fields{{fieldStreamID, sid}, {fieldStreamSeq, strconv.Itoa(seq)}}, body)
			m.Opaque, m.Flag = int32(seq), FlagOneway
			b, _ = AppendFrame(b[:0], m, SerializeRocketMQ)
			if _, err := p.nc.Write(b); err != nil {
				return // closed by the test, or by the provider
			}
		}
	}
}

func (p *floodPeer) read() {
	defer close(p.granted)
	br := bufio.NewReaderSize(p.nc, 64<<10)
	var pre [4]byte
	var buf []byte
	for {
		if _, err := io.ReadFull(br, pre[:]); err != nil {
			return
		}
		n := int(beUint32(pre[:]))
		buf = append(append(buf[:0], pre[:]...), make([]byte, n)...)
		if _, err := io.ReadFull(br, buf[4:]); err != nil {
			return
		}
		cmd, _, err := ParseFrame(buf, 0)
		if err != nil {
			return
		}
		switch {
		case cmd.IsResponse() && cmd.Opaque >= 1 && cmd.Opaque <= floodStreams:
			p.decide()
		case cmd.Code == codeStreamDown && cmd.ExtFields.Get(fieldStreamCredit) != "":
			id, _ := strconv.Atoi(cmd.ExtFields.Get(fieldStreamID))
			p.accepted.Add(1)
			p.granted <- int32(id)
			p.decide()
		}
	}
}

func (p *floodPeer) decide() {
	if p.answered.Add(1) == floodStreams {
		close(p.decided)
	}
}

// TestStreamFloodBoundsMemory: 500 connections each open the most streams a
// connection may, and fill every stream they are granted with 16 KiB messages that
// nobody takes. The provider refuses the streams beyond its limits SYSTEM_BUSY,
// stops reading messages once MaxStreamMemory is full, stays under its documented
// memory bound (not asserted under the race detector), and still answers a good
// caller's unary calls.
func TestStreamFloodBoundsMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("a flood from 500 connections")
	}
	prov := startFloodProvider(t)
	var wg sync.WaitGroup
	peers := make([]*floodPeer, floodConns)
	defer func() {
		for _, p := range peers {
			if p != nil {
				p.nc.Close()
			}
		}
		wg.Wait()
	}()
	for i := range peers {
		peers[i] = startFloodPeer(t, prov.addr, &wg)
	}
	var st floodStats
	deadline := time.Now().Add(2 * time.Minute)
	sample := time.NewTicker(50 * time.Millisecond)
	defer sample.Stop()
	for ; ; <-sample.C {
		rss, _ := prov.memory(t)
		if rss > floodRSSBound && !raceBuild {
			t.Fatalf("provider RSS %d MiB, over the bound of %d MiB (last stats %+v)", rss>>20, floodRSSBound>>20, st)
		}
		st = prov.stats(t)
		if st.StreamMax > 0 && allDecided(peers) && st.StreamMem >= st.StreamMax-2*(floodMessage+1024) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the flood did not settle within 2 minutes: %+v, RSS %d MiB", st, rss>>20)
		}
	}
	accepted := 0
	for _, p := range peers {
		accepted += int(p.accepted.Load())
	}
	if int64(accepted) != st.Streams || accepted > st.MaxStreams {
		t.Errorf("%d streams accepted, %d open, at most %d allowed", accepted, st.Streams, st.MaxStreams)
	}
	good := newTestClient(t, ClientOptions{})
	var worst time.Duration
	for i := range 200 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		start := time.Now()
		resp, err := good.InvokeSync(ctx, prov.addr, NewRequest(codeEcho, nil, []byte(strconv.Itoa(i))))
		cancel()
		if err != nil || string(resp.Body) != strconv.Itoa(i) {
			t.Fatalf("good call %d during the flood: %v", i, err)
		}
		worst = max(worst, time.Since(start))
	}
	rss, peak := prov.memory(t)
	t.Logf("flood settled: %d streams open (limit %d), %d MiB of messages buffered (limit %d MiB), %d goroutines; provider heap in use %d MiB, stacks %d MiB; RSS %d MiB, peak %d MiB; slowest of 200 good calls %v",
		st.Streams, st.MaxStreams, st.StreamMem>>20, st.StreamMax>>20, st.Goroutines, st.HeapInUse>>20, st.StackInUse>>20, rss>>20, peak>>20, worst)
	if peak > floodRSSBound && !raceBuild {
		t.Errorf("provider peak RSS %d MiB, over the bound of %d MiB", peak>>20, floodRSSBound>>20)
	}
}

func allDecided(peers []*floodPeer) bool {
	for _, p := range peers {
		select {
		case <-p.decided:
		default:
			return false
		}
	}
	return true
}
