package transport

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestLongHandlerOutlivesIdleTimeout: a connection on which a call waits, or a handler
// runs, is not idle however long the handler takes.
func TestLongHandlerOutlivesIdleTimeout(t *testing.T) {
	idle := ConnOptions{IdleTimeout: 200 * time.Millisecond}
	_, addr := startServer(t, ServerOptions{ConnOptions: idle}, func(s *Server) {
		must(t, s.RegisterProcessor(codeBlock, ProcessorFunc(func(ctx context.Context, _ *Conn, req *Command) (*Command, error) {
			work := time.NewTimer(3 * idle.IdleTimeout) // the handler's own work
			defer work.Stop()
			select {
			case <-work.C:
				return NewResponse(req, CodeSuccess, "done"), nil
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}), PoolOptions{}))
	})
	cl := newTestClient(t, ClientOptions{ConnOptions: idle})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := cl.InvokeSync(ctx, addr, NewRequest(codeBlock, nil, nil))
	if err != nil {
		t.Fatalf("a call running 3 idle timeouts: %v", err)
	}
	if resp.Remark != "done" {
		t.Fatalf("response %v", resp)
	}
}

// silentPeer accepts connections and reads frames without ever writing, as a host that
// died with its socket still open looks from the other end. It reports the code of
// every frame read. answer, when set, is written back for each ping: a RocketMQ peer
// that does not know the code.
func silentPeer(t *testing.T, answer func(ping *Command) *Command) (string, <-chan int32) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	codes := make(chan int32, 100)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, nc)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				readFrames(nc, codes, answer)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, nc := range conns {
			nc.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String(), codes
}

func readFrames(nc net.Conn, codes chan<- int32, answer func(*Command) *Command) {
	for {
		cmd, err := readOneFrame(nc)
		if err != nil {
			return
		}
		select {
		case codes <- cmd.Code:
		default:
		}
		if answer != nil && cmd.Code == codePing {
			b, _ := AppendFrame(nil, answer(cmd), SerializeRocketMQ)
			nc.Write(b)
		}
	}
}

var fastHeartbeat = ConnOptions{HeartbeatInterval: 100 * time.Millisecond, HeartbeatTimeout: 100 * time.Millisecond}

// TestHeartbeatFindsSilentPeer: a call to a peer that reads but never answers fails
// with ErrConnectionLost within HeartbeatInterval + HeartbeatTimeout + a reaper tick,
// long before its deadline, after pings with the reserved code went out.
func TestHeartbeatFindsSilentPeer(t *testing.T) {
	addr, codes := silentPeer(t, nil)
	cl := newTestClient(t, ClientOptions{ConnOptions: fastHeartbeat})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	_, err := cl.InvokeSync(ctx, addr, NewRequest(codeEcho, nil, nil))
	took := time.Since(start)
	if !errors.Is(err, ErrConnectionLost) || !strings.Contains(err.Error(), "presumed dead") {
		t.Fatalf("call to a silent peer: %v, want ErrConnectionLost presuming it dead", err)
	}
	if n := strings.Count(err.Error(), ErrConnectionLost.Error()); n != 1 {
		t.Errorf("the error says %q %d times: %v", ErrConnectionLost, n, err)
	}
	t.Logf("a silent peer was given up after %v: %v", took, err)
	bound := fastHeartbeat.HeartbeatInterval + fastHeartbeat.HeartbeatTimeout + maxReapEvery
	if took < fastHeartbeat.HeartbeatInterval+fastHeartbeat.HeartbeatTimeout || took > bound+time.Second {
		t.Fatalf("given up after %v, want between %v and %v (with a second of slack)", took, bound-maxReapEvery, bound)
	}
	if c := waitFor(t, codes, "the call"); c != codeEcho {
		t.Fatalf("first frame code %d, want the call's", c)
	}
	if c := waitFor(t, codes, "a ping"); c != codePing {
		t.Fatalf("second frame code %d, want a ping (%d)", c, codePing)
	}
}

// TestHeartbeatAnyFrameProvesLife: a RocketMQ peer that does not know the ping answers
// REQUEST_CODE_NOT_SUPPORTED; that keeps the connection, and the call ends at its own
// deadline.
func TestHeartbeatAnyFrameProvesLife(t *testing.T) {
	addr, codes := silentPeer(t, func(ping *Command) *Command {
		return NewResponse(ping, CodeRequestCodeNotSupported, " request type 7700 not supported")
	})
	cl := newTestClient(t, ClientOptions{ConnOptions: fastHeartbeat})
	ctx, cancel := context.WithTimeout(context.Background(), 800*time.Millisecond)
	defer cancel()
	_, err := cl.InvokeSync(ctx, addr, NewRequest(codeEcho, nil, nil))
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("call to a live but unanswering peer: %v, want its own deadline", err)
	}
	pings := 0
	for len(codes) > 0 {
		if <-codes == codePing {
			pings++
		}
	}
	if pings < 2 {
		t.Fatalf("%d pings in 800ms at a 100ms interval, want several", pings)
	}
}

// TestSilenceJudge: the heartbeat's decisions from the times of the last read.
func TestSilenceJudge(t *testing.T) {
	const ms = time.Millisecond
	hb := heartbeat{interval: 100 * ms, timeout: 50 * ms}
	type step struct {
		now, lastRead time.Duration
		want          verdict
	}
	tests := []struct {
		name  string
		hb    heartbeat
		steps []step
	}{
		{"reads keep it alive", hb, []step{{1050 * ms, 1000 * ms, peerAlive}, {1150 * ms, 1100 * ms, peerAlive}}},
		{"silence before the watch is no sign", hb, []step{{1050 * ms, 0, peerAlive}}},
		{"silent peer: ping, then dead", hb, []step{
			{1050 * ms, 0, peerAlive}, {1100 * ms, 0, peerPing}, {1120 * ms, 0, peerAlive}, {1150 * ms, 0, peerDead},
		}},
		{"a late ping still gets the whole timeout", hb, []step{{1140 * ms, 0, peerPing}, {1150 * ms, 0, peerAlive}, {1190 * ms, 0, peerDead}}},
		{"a stalled reaper pings before it gives up", hb, []step{{1200 * ms, 0, peerPing}, {1210 * ms, 0, peerAlive}, {1250 * ms, 0, peerDead}}},
		{"silence adds up across quiet spells between calls", hb, []step{{1060 * ms, 0, peerAlive}, {1130 * ms, 0, peerPing}}},
		{"one ping per silence", hb, []step{{1100 * ms, 0, peerPing}, {1110 * ms, 0, peerAlive}, {1140 * ms, 0, peerAlive}}},
		{"an answer clears the ping", hb, []step{
			{1100 * ms, 0, peerPing}, {1140 * ms, 1120 * ms, peerAlive}, {1200 * ms, 1120 * ms, peerAlive}, {1220 * ms, 1120 * ms, peerPing},
		}},
		{"off", heartbeat{}, []step{{time.Hour, 0, peerAlive}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := silence{since: 1000 * ms}
			for i, st := range tc.steps {
				got := s.judge(tc.hb, st.now, st.lastRead)
				if got != st.want {
					t.Fatalf("step %d (now %v, last read %v): %v, want %v", i, st.now, st.lastRead, got, st.want)
				}
				if got == peerPing {
					s.pingAt = st.now // the ping was queued
				}
			}
		})
	}
}

// TestHeartbeatAcrossShortCalls: calls that come one after another, each ending at its
// deadline before a ping would have gone out, still add up to a silence: the peer is
// pinged and found dead, and a later call fails as connection lost.
func TestHeartbeatAcrossShortCalls(t *testing.T) {
	addr, _ := silentPeer(t, nil)
	cl := newTestClient(t, ClientOptions{ConnOptions: fastHeartbeat})
	short := fastHeartbeat.HeartbeatInterval * 3 / 4
	start := time.Now()
	for time.Since(start) < 10*(fastHeartbeat.HeartbeatInterval+fastHeartbeat.HeartbeatTimeout) {
		ctx, cancel := context.WithTimeout(context.Background(), short)
		_, err := cl.InvokeSync(ctx, addr, NewRequest(codeEcho, nil, nil))
		cancel()
		if errors.Is(err, ErrConnectionLost) {
			t.Logf("found dead after %v of short calls", time.Since(start))
			return
		}
		if !errors.Is(err, ErrTimeout) {
			t.Fatalf("short call to a silent peer: %v", err)
		}
	}
	t.Fatalf("%v of calls shorter than the interval never found the silent peer", time.Since(start))
}

// A call on a connection that was lost says so once, with the peer's address and why.
func TestLostConnectionSaysSoOnce(t *testing.T) {
	srv, addr := startServer(t, ServerOptions{}, func(s *Server) { must(t, s.RegisterProcessor(codeEcho, echo, PoolOptions{})) })
	cl := newTestClient(t, ClientOptions{})
	conn, err := cl.Conn(context.Background(), addr)
	must(t, err)
	srv.Close() // the client reads EOF
	waitFor(t, conn.exited, "the lost connection")
	_, err = conn.InvokeSync(context.Background(), NewRequest(codeEcho, nil, nil))
	if !errors.Is(err, ErrConnectionLost) || strings.Count(err.Error(), ErrConnectionLost.Error()) != 1 || !strings.Contains(err.Error(), addr) {
		t.Fatalf("a call on a lost connection: %v", err)
	}
}

// streamToSlowConsumer starts a server whose processor sends msgs messages of 8 KiB
// on each stream, and opens one from a client with opts, whose reader reports on
// waits when it first waits for stream memory. It returns the stream once its first
// message was taken and the reader waits.
func streamToSlowConsumer(t *testing.T, msgs int, opts ConnOptions) *Stream {
	t.Helper()
	_, addr := startServer(t, ServerOptions{}, func(s *Server) {
		must(t, s.RegisterProcessor(codeStreamIdle, ProcessorFunc(func(ctx context.Context, conn *Conn, req *Command) (*Command, error) {
			st := conn.InboundStream(req)
			body := make([]byte, 8<<10)
			for range msgs {
				if err := st.Send(body); err != nil {
					return nil, err
				}
			}
			return NewResponse(req, CodeSuccess, ""), nil
		}), PoolOptions{}))
	})
	cl := newTestClient(t, ClientOptions{ConnOptions: opts})
	waits := make(chan struct{}, 1)
	cl.cfg.streamMemWaits = func(*Conn) {
		select {
		case waits <- struct{}{}:
		default:
		}
	}
	conn, err := cl.Conn(context.Background(), addr)
	must(t, err)
	st, err := conn.OpenStream(context.Background(), NewRequest(codeStreamIdle, nil, nil))
	must(t, err)
	t.Cleanup(st.Close)
	if _, err := st.Recv(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, waits, "the reader to wait for stream memory")
	return st
}

// TestHeartbeatSparesReaderWaitingForStreamMemory: a consumer slower than the
// heartbeat fills this side's MaxStreamMemory, and the connection's reader waits for
// room, reading nothing, while the stream's opening call is pending. The peer is not
// silent: this side does not read. The connection lives on for as long as the reader
// may wait (IdleTimeout), and every message arrives once the consumer takes them.
func TestHeartbeatSparesReaderWaitingForStreamMemory(t *testing.T) {
	const msgs = 200
	hb := ConnOptions{
		MaxStreamMemory:   128 << 10, // some 15 messages
		HeartbeatInterval: 200 * time.Millisecond,
		HeartbeatTimeout:  200 * time.Millisecond,
		IdleTimeout:       30 * time.Second,
	}
	st := streamToSlowConsumer(t, msgs, hb)
	// The consumer is slow: it takes nothing for four times the heartbeat's bound. The
	// pause is the behaviour under test, not a synchronisation.
	time.Sleep(4 * (hb.HeartbeatInterval + hb.HeartbeatTimeout))
	n := 1
	for {
		_, err := st.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("after %d messages and a pause of the consumer: %v", n, err)
		}
		n++
	}
	if n != msgs {
		t.Fatalf("%d messages, want %d", n, msgs)
	}
}

// TestReaderWaitingForStreamMemoryClosedAfterIdleTimeout: a consumer that takes
// nothing more holds its reader waiting for stream memory; with the heartbeat on, the
// connection is closed when the reader has waited IdleTimeout, not before.
func TestReaderWaitingForStreamMemoryClosedAfterIdleTimeout(t *testing.T) {
	opts := ConnOptions{
		MaxStreamMemory:   128 << 10,
		HeartbeatInterval: 100 * time.Millisecond,
		HeartbeatTimeout:  100 * time.Millisecond,
		IdleTimeout:       800 * time.Millisecond,
	}
	start := time.Now()
	st := streamToSlowConsumer(t, 200, opts)
	waitFor(t, st.Done(), "the stream's end")
	took := time.Since(start)
	err := st.Err()
	if !errors.Is(err, ErrConnectionLost) || !strings.Contains(err.Error(), "IdleTimeout") {
		t.Fatalf("the stream ended with %v, want the connection lost after IdleTimeout", err)
	}
	if took < opts.IdleTimeout || took > opts.IdleTimeout+2*time.Second {
		t.Fatalf("closed after %v, want soon after the %v IdleTimeout", took, opts.IdleTimeout)
	}
	t.Logf("after %v: %v", took.Round(time.Millisecond), err)
}

// TestNoPingWhileNothingWaits: a connection on which no call waits sends no ping,
// however long its peer has been quiet, and its idle timeout closes it. The reaper
// ticks once more after the last call ends, and that tick pinged a peer quiet for an
// interval: after an answered call when the interval is shorter than a tick, and after
// a call cancelled before the first tick.
func TestNoPingWhileNothingWaits(t *testing.T) {
	tests := []struct {
		name string
		call func(t *testing.T, cl *Client, addr string, codes <-chan int32)
	}{
		{"after an answered call", func(t *testing.T, cl *Client, addr string, _ <-chan int32) {
			_, err := cl.InvokeSync(context.Background(), addr, NewRequest(codeEcho, nil, nil))
			must(t, err)
		}},
		{"after a call cancelled before the first tick", func(t *testing.T, cl *Client, addr string, codes <-chan int32) {
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() {
				_, err := cl.InvokeSync(ctx, addr, NewRequest(codeEcho, nil, []byte("hold")))
				done <- err
			}()
			if c := waitFor(t, codes, "the call"); c != codeEcho {
				t.Fatalf("first frame code %d, want the call's", c)
			}
			cancel()
			if err := waitFor(t, done, "the cancelled call"); !errors.Is(err, context.Canceled) {
				t.Fatalf("cancelled call: %v", err)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			addr, codes, closed := answeringPeer(t)
			// The interval is shorter than a reaper tick (a thirty-second of the 3 s
			// call timeout), and every tick after the first call finds the peer quiet
			// for longer.
			opts := ConnOptions{HeartbeatInterval: 20 * time.Millisecond, HeartbeatTimeout: time.Second, IdleTimeout: 400 * time.Millisecond}
			cl := newTestClient(t, ClientOptions{ConnOptions: opts})
			tc.call(t, cl, addr, codes)
			// A oneway request marks the call's end in the frames the peer reads: a
			// ping before it may have gone out while the call waited.
			const marker = 99
			must(t, cl.InvokeOneway(context.Background(), addr, NewRequest(marker, nil, nil)))
			waitFor(t, closed, "the idle timeout to close the connection")
			ended := false
			for len(codes) > 0 {
				switch <-codes {
				case marker:
					ended = true
				case codePing:
					if ended {
						t.Fatal("a ping went out on a connection on which no call waited")
					}
				}
			}
			if !ended {
				t.Fatal("the peer did not read the oneway request sent after the call")
			}
		})
	}
}

// answeringPeer accepts one connection, reports the code of every frame it reads,
// answers every request but those whose body is "hold", and closes closed when the
// connection ends.
func answeringPeer(t *testing.T) (addr string, codes <-chan int32, closed <-chan struct{}) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	ch := make(chan int32, 100)
	end := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		nc, err := ln.Accept()
		ln.Close()
		if err != nil {
			return
		}
		defer nc.Close()
		defer close(end)
		for {
			cmd, err := readOneFrame(nc)
			if err != nil {
				return
			}
			ch <- cmd.Code
			if cmd.IsResponse() || cmd.IsOneway() || string(cmd.Body) == "hold" {
				continue
			}
			b, _ := AppendFrame(nil, NewResponse(cmd, CodeSuccess, ""), SerializeRocketMQ)
			if _, err := nc.Write(b); err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
	})
	return ln.Addr().String(), ch, end
}

// readOneFrame reads the next frame from nc.
func readOneFrame(nc net.Conn) (*Command, error) {
	var pre [4]byte
	if _, err := io.ReadFull(nc, pre[:]); err != nil {
		return nil, err
	}
	rest := make([]byte, binary.BigEndian.Uint32(pre[:]))
	if _, err := io.ReadFull(nc, rest); err != nil {
		return nil, err
	}
	cmd, _, err := ParseFrame(append(pre[:], rest...), 0)
	return cmd, err
}
