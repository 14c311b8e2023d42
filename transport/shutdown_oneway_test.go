package transport

import (
	"context"
	"errors"
	"io"
	"maps"
	"net"
	"os"
	"slices"
	"testing"
	"time"
)

// A oneway request that crossed the going-away notice runs: nothing is written for a
// oneway request, so the GO_AWAY a call gets would lose it without a trace.
func TestOnewayCrossingGoingAwayRuns(t *testing.T) {
	ran := make(chan struct{}, 1)
	started := make(chan struct{}, 1)
	release := make(chan struct{})
	s, addr := startServer(t, ServerOptions{}, func(s *Server) {
		must(t, s.RegisterProcessor(codeEcho, ProcessorFunc(func(context.Context, *Conn, *Command) (*Command, error) {
			ran <- struct{}{}
			return nil, nil
		}), PoolOptions{}))
		must(t, s.RegisterProcessor(codeBlock, ProcessorFunc(func(context.Context, *Conn, *Command) (*Command, error) {
			started <- struct{}{}
			<-release
			return nil, nil
		}), PoolOptions{}))
	})
	t.Cleanup(func() { closeOnce(release) })
	// A call in flight on another connection keeps the server draining.
	cl := newTestClient(t, ClientOptions{})
	cl.InvokeAsync(context.Background(), addr, NewRequest(codeBlock, nil, nil), func(*Command, error) {})
	waitFor(t, started, "the blocking call to run")

	// A connection whose oneway request is on its way as the notice arrives: sent
	// right after the notice is read, as a caller's writer does when its batch left
	// before the notice came in.
	_, write, _, shut := noticedPeer(t, s, addr)
	oneway := NewRequest(codeEcho, nil, []byte("crossed the notice"))
	oneway.Opaque, oneway.Flag = 2, FlagOneway
	write(oneway)

	select {
	case <-ran:
	case <-time.After(2 * time.Second):
		t.Errorf("a oneway request that crossed the going-away notice never ran, and nothing told its caller")
	}
	closeOnce(release)
	if err := waitFor(t, shut, "Shutdown"); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}

// At Shutdown a connection with nothing in flight whose peer answered the going-away
// notice closes, while another connection still sends: it does not wait for the
// server's other connections to fall quiet too.
func TestShutdownClosesQuietConnAlone(t *testing.T) {
	s, addr := startServer(t, ServerOptions{}, nil)
	frame := func(op int32) []byte {
		b, err := AppendFrame(nil, &Command{Code: codePing, Language: LanguageGo, Version: DefaultVersion, Opaque: op}, SerializeRocketMQ)
		must(t, err)
		return b
	}
	quiet, busy := rawDial(t, addr), rawDial(t, addr)
	for _, nc := range []net.Conn{quiet, busy} {
		_, err := nc.Write(frame(1))
		must(t, err)
		readRawFrame(t, nc)
	}
	// The busy peer pings every 5 ms, and reads what comes back, until it is closed.
	go io.Copy(io.Discard, busy)
	pinger := make(chan struct{})
	go func() {
		defer close(pinger)
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for op := int32(2); ; op++ {
			<-tick.C
			busy.SetWriteDeadline(time.Now().Add(time.Second))
			if _, err := busy.Write(frame(op)); err != nil {
				return
			}
		}
	}()
	shut := make(chan error, 1)
	go func() { shut <- s.Shutdown(context.Background()) }()
	notice := readRawFrame(t, quiet)
	if notice.Code != codeGoingAway {
		t.Fatalf("read code %d, want the going-away notice %d", notice.Code, codeGoingAway)
	}
	start := time.Now()
	answer, err := AppendFrame(nil, drainedAnswer(notice), SerializeRocketMQ)
	must(t, err)
	_, err = quiet.Write(answer)
	must(t, err)
	quiet.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := quiet.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("the quiet connection: read %d bytes, %v; want it closed", n, err)
	}
	if took := time.Since(start); took > 500*time.Millisecond {
		t.Errorf("the quiet connection closed %v after it answered the going-away notice: another connection's pings held it open", took)
	}
	if err := waitFor(t, shut, "Shutdown"); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	waitFor(t, pinger, "the pinger to find its connection closed")
}

// A oneway request that finds its pool's queue full is dropped unrun, as a call would
// be answered SYSTEM_BUSY, and counted with the busy answers.
func TestOnewayFindingQueueFullIsDroppedAndCounted(t *testing.T) {
	ran := make(chan string, 10)
	started := make(chan struct{}, 1)
	release := make(chan struct{})
	s, addr := startServer(t, ServerOptions{}, func(s *Server) {
		must(t, s.RegisterProcessor(codeEcho, ProcessorFunc(func(_ context.Context, _ *Conn, req *Command) (*Command, error) {
			if string(req.Body) == "first" {
				started <- struct{}{}
				<-release
			}
			ran <- string(req.Body)
			return nil, nil
		}), PoolOptions{Workers: 1, QueueSize: 1}))
	})
	cl := newTestClient(t, ClientOptions{})
	ctx := context.Background()
	must(t, cl.InvokeOneway(ctx, addr, NewRequest(codeEcho, nil, []byte("first"))))
	waitFor(t, started, "the first oneway request to run")
	for _, body := range []string{"queued", "dropped"} {
		must(t, cl.InvokeOneway(ctx, addr, NewRequest(codeEcho, nil, []byte(body))))
	}
	// The server reads a connection in order: once a call after them is answered
	// (busy too, as the queue is still full), both were dispatched.
	if resp, err := cl.InvokeSync(ctx, addr, NewRequest(codeEcho, nil, []byte("probe"))); err != nil || resp.Code != CodeSystemBusy {
		t.Fatalf("a call behind the full queue: %v, %v; want a SYSTEM_BUSY answer", resp, err)
	}
	if busy := s.Stats().Busy; busy != 2 {
		t.Errorf("Stats().Busy = %d, want 2: the dropped oneway request and the busy call", busy)
	}
	close(release)
	for _, want := range []string{"first", "queued"} {
		if got := waitFor(t, ran, "a oneway request to run"); got != want {
			t.Errorf("ran %q, want %q", got, want)
		}
	}
	select {
	case got := <-ran:
		t.Errorf("ran %q as well: the request that found the queue full must be dropped", got)
	default:
	}
}

// A peer whose requests queued before it read the going-away notice go out late, as
// a writer held up would send them, still has them run: the provider waits for the
// peer's answer to the notice, which comes after them, not only for 50 ms of quiet.
func TestGoingAwayAnswerComesAfterTheLastRequests(t *testing.T) {
	ran := make(chan string, 10)
	s, addr := startServer(t, ServerOptions{}, func(s *Server) {
		must(t, s.RegisterProcessor(codeEcho, ProcessorFunc(func(_ context.Context, _ *Conn, req *Command) (*Command, error) {
			ran <- string(req.Body)
			return nil, nil
		}), PoolOptions{}))
	})
	_, write, notice, shut := noticedPeer(t, s, addr)
	// Held up for four times the quiet a provider waits for at least.
	time.Sleep(4 * goAwayQuiet)
	for i, body := range []string{"late 1", "late 2"} {
		req := NewRequest(codeEcho, nil, []byte(body))
		req.Opaque, req.Flag = int32(10+i), FlagOneway
		write(req)
	}
	write(drainedAnswer(notice))
	// The pool's workers may run the two in either order.
	left := map[string]bool{"late 1": true, "late 2": true}
	for len(left) > 0 {
		select {
		case got := <-ran:
			if !left[got] {
				t.Errorf("ran %q, want each of late 1 and late 2 once", got)
			}
			delete(left, got)
		case <-time.After(2 * time.Second):
			t.Fatalf("%v, sent before the answer to the notice, never ran", slices.Sorted(maps.Keys(left)))
		}
	}
	if err := waitFor(t, shut, "Shutdown"); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}

// A peer that answers the going-away notice SUCCESS without the drained mark, as an
// older ringrpc answered it at once, may still send requests: one after its answer
// is answered GO_AWAY, not met by a closed connection.
func TestUnmarkedAnswerToGoingAwayGetsQuiet(t *testing.T) {
	s, addr := startServer(t, ServerOptions{}, func(s *Server) {
		must(t, s.RegisterProcessor(codeEcho, echo, PoolOptions{}))
	})
	nc, write, notice, shut := noticedPeer(t, s, addr)
	write(NewResponse(notice, CodeSuccess, ""))
	// A request the older peer had still to send, right after its answer: a pause
	// here would be the quiet that ends the connection on a machine slow to wake.
	req := NewRequest(codeEcho, nil, []byte("after the answer"))
	req.Opaque, req.Version = 42, DefaultVersion
	write(req)
	if resp := readRawFrame(t, nc); resp.Opaque != 42 || resp.Code != CodeGoAway {
		t.Errorf("read %v, want GO_AWAY to opaque 42", resp)
	}
	if err := waitFor(t, shut, "Shutdown"); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}

// drainedAnswer is a ringrpc peer's answer to the going-away notice n.
func drainedAnswer(n *Command) *Command {
	resp := NewResponse(n, CodeSuccess, "")
	resp.ExtFields = Fields{{Key: fieldDrained, Value: "1"}}
	return resp
}

// noticedPeer connects to s at addr as a raw peer, starts s's Shutdown, and returns
// the connection, a writer of frames on it, the going-away notice it read (checked to
// be a request to answer) and Shutdown's outcome.
func noticedPeer(t *testing.T, s *Server, addr string) (net.Conn, func(*Command), *Command, <-chan error) {
	t.Helper()
	nc := rawDial(t, addr)
	write := func(c *Command) {
		t.Helper()
		b, err := AppendFrame(nil, c, SerializeRocketMQ)
		must(t, err)
		_, err = nc.Write(b)
		must(t, err)
	}
	write(&Command{Code: codePing, Language: LanguageGo, Version: DefaultVersion, Opaque: 1})
	readRawFrame(t, nc) // the server has the connection
	shut := make(chan error, 1)
	go func() { shut <- s.Shutdown(context.Background()) }()
	notice := readRawFrame(t, nc)
	if notice.Code != codeGoingAway || notice.IsOneway() {
		t.Fatalf("read code %d, oneway %v; want the going-away notice %d as a request to answer", notice.Code, notice.IsOneway(), codeGoingAway)
	}
	return nc, write, notice, shut
}

// A peer that goes on sending oneway requests after the going-away notice, answering
// it or not, holds Shutdown no longer than a peer that sends calls: it is given a
// second to stop, and its oneway requests are turned away from then on, so that its
// connection closes once those admitted have run.
func TestOnewayFloodAfterNoticeEndsShutdown(t *testing.T) {
	s, addr := startServer(t, ServerOptions{}, func(s *Server) {
		// Each takes 50 ms, and the peer sends one a millisecond: some are always in
		// flight, even when the peer's sleeps run long on a loaded machine, and the
		// workers keep up.
		must(t, s.RegisterProcessor(codeEcho, ProcessorFunc(func(context.Context, *Conn, *Command) (*Command, error) {
			time.Sleep(50 * time.Millisecond)
			return nil, nil
		}), PoolOptions{Workers: 256}))
	})
	nc, _, _, shut := noticedPeer(t, s, addr)
	r := NewRequest(codeEcho, nil, nil)
	r.Opaque, r.Flag = 10, FlagOneway
	batch, _ := AppendFrame(nil, r, SerializeRocketMQ)
	stop := make(chan struct{})
	flooded := make(chan struct{})
	go func() {
		defer close(flooded)
		for {
			select {
			case <-stop:
				return
			default:
			}
			nc.SetWriteDeadline(time.Now().Add(time.Second))
			if _, err := nc.Write(batch); err != nil {
				return // closed by the server
			}
			time.Sleep(time.Millisecond)
		}
	}()
	defer func() {
		close(stop)
		<-flooded
	}()
	const bound = maxGoAwayWait + 4*time.Second // the notice's second, then room for a loaded machine
	select {
	case err := <-shut:
		if err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	case <-time.After(bound):
		t.Errorf("Shutdown still waits %v after the notice for a peer that floods oneway requests", bound)
		s.Close() // ends the Shutdown
		<-shut
	}
}
