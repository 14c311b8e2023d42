package transport

import (
	"context"
	"crypto/tls"
	"net"
	"strconv"
	"testing"
	"time"
)

// blockUntilDone is a processor that waits for its context, as a long poll does: it
// says which requests started and whose contexts ended, by their extField "id", or
// else their opaque.
func blockUntilDone(started, ended chan int32, release <-chan struct{}) Processor {
	return ProcessorFunc(func(ctx context.Context, _ *Conn, req *Command) (*Command, error) {
		id := req.Opaque
		if v, ok := req.ExtFields.Lookup("id"); ok {
			n, _ := strconv.Atoi(v)
			id = int32(n)
		}
		started <- id
		select {
		case <-ctx.Done():
			ended <- id
		case <-release:
		}
		return NewResponse(req, CodeSuccess, ""), nil
	})
}

func frameOf(t testing.TB, code, opaque, flag int32, ext Fields, ser SerializeType) []byte {
	t.Helper()
	c := NewRequest(code, ext, nil)
	c.Opaque, c.Flag = opaque, flag
	b, err := AppendFrame(nil, c, ser)
	must(t, err)
	return b
}

func cancelFrame(t testing.TB, notice, opaque int32, ser SerializeType) []byte {
	return frameOf(t, codeCancel, notice, FlagOneway, Fields{{Key: fieldCancelOpaque, Value: strconv.Itoa(int(opaque))}}, ser)
}

// pausedServer serves blocking requests with at most 4 in flight per connection, and
// sends it 4 requests that block, extra ones the reader leaves unread and then tail:
// its reader then waits for room. more, when not nil, registers more processors.
func pausedServer(t *testing.T, extra int, ser SerializeType, tail []byte, more func(*Server)) (s *Server, nc net.Conn, started, ended chan int32) {
	started, ended = make(chan int32, 16), make(chan int32, 16)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	opts := ServerOptions{}
	opts.MaxConnInflight = 4
	s, addr := startServer(t, opts, func(s *Server) {
		must(t, s.RegisterProcessor(codeBlock, blockUntilDone(started, ended, release), PoolOptions{Workers: 8}))
		if more != nil {
			more(s)
		}
	})
	nc = rawDial(t, addr)
	out := append(framesOf(t, codeBlock, 1, 4+extra, 0, ser), tail...)
	_, err := nc.Write(out)
	must(t, err)
	waitN(t, started, 4, "a request to start")
	return s, nc, started, ended
}

// recordOpaque registers a processor of code that sends each request's opaque to ch.
func recordOpaque(t *testing.T, code int32, ch chan<- int32) func(*Server) {
	return func(s *Server) {
		must(t, s.RegisterProcessor(code, ProcessorFunc(func(_ context.Context, _ *Conn, req *Command) (*Command, error) {
			ch <- req.Opaque
			return nil, nil
		}), PoolOptions{}))
	}
}

// A reader that waits for room at the in-flight cap still sees its peer go, and the
// cancel notices behind the requests it has not read: the handlers the peer no
// longer waits for end (docs/PROTOCOL.md, "Cancellation").
func TestPausedReaderSeesPeer(t *testing.T) {
	for _, ser := range []SerializeType{SerializeRocketMQ, SerializeJSON} {
		for _, tc := range []struct {
			name  string
			extra int // requests sent beyond the cap, left unread
			act   func(t *testing.T, nc net.Conn)
			ends  int // the contexts that end
		}{
			{"close", 0, func(t *testing.T, nc net.Conn) { nc.Close() }, 4},
			{"close with requests unread", 6, func(t *testing.T, nc net.Conn) { nc.Close() }, 4},
			{"reset with requests unread", 6, func(t *testing.T, nc net.Conn) {
				nc.(*net.TCPConn).SetLinger(0)
				nc.Close()
			}, 4},
			{"cancel notices", 0, func(t *testing.T, nc net.Conn) {
				var out []byte
				for i := range 4 {
					out = append(out, cancelFrame(t, int32(100+i), int32(i+1), ser)...)
				}
				_, err := nc.Write(out)
				must(t, err)
			}, 4},
			// The notices for the unread requests come before those requests run:
			// they are applied again when read in order, and end them too.
			{"cancel notices behind unread requests", 2, func(t *testing.T, nc net.Conn) {
				var out []byte
				for i := range 6 {
					out = append(out, cancelFrame(t, int32(100+i), int32(i+1), ser)...)
				}
				_, err := nc.Write(out)
				must(t, err)
			}, 6},
		} {
			t.Run(ser.String()+"/"+tc.name, func(t *testing.T) {
				_, nc, _, ended := pausedServer(t, tc.extra, ser, nil, nil)
				tc.act(t, nc)
				for range tc.ends {
					waitFor(t, ended, "a handler's context to end")
				}
			})
		}
	}
}

// A ping behind requests the reader has not read is answered while the reader waits
// for room, and only once.
func TestPausedReaderAnswersPingOnce(t *testing.T) {
	_, nc, _, ended := pausedServer(t, 2, SerializeRocketMQ, nil, nil)
	_, err := nc.Write(frameOf(t, codePing, 99, 0, nil, SerializeRocketMQ))
	must(t, err)
	if r := readRawFrame(t, nc); r.Opaque != 99 || !r.IsResponse() {
		t.Fatalf("first frame from the server: opaque %d, response %v; want the ping's answer", r.Opaque, r.IsResponse())
	}
	var out []byte
	for i := range 6 {
		out = append(out, cancelFrame(t, int32(100+i), int32(i+1), SerializeRocketMQ)...)
	}
	_, err = nc.Write(out)
	must(t, err)
	waitN(t, ended, 6, "a handler's context to end")
	// The six requests are answered; a second ping's answer comes after them, and
	// none of the first ping again.
	_, err = nc.Write(frameOf(t, codePing, 98, 0, nil, SerializeRocketMQ))
	must(t, err)
	for {
		r := readRawFrame(t, nc)
		if r.Opaque == 99 {
			t.Fatal("the ping read ahead was answered twice")
		}
		if r.Opaque == 98 {
			break
		}
	}
}

// Over TLS, a read ahead that the room ends leaves the connection whole: the requests
// behind run, and the connection serves calls after.
func TestPausedReaderOverTLS(t *testing.T) {
	cert, pool := selfSigned(t)
	started, ended := make(chan int32, 16), make(chan int32, 16)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	opts := ServerOptions{ConnOptions: ConnOptions{TLS: &tls.Config{Certificates: []tls.Certificate{cert}}}}
	opts.MaxConnInflight = 4
	_, addr := startServer(t, opts, func(s *Server) {
		must(t, s.RegisterProcessor(codeBlock, blockUntilDone(started, ended, release), PoolOptions{Workers: 8}))
		must(t, s.RegisterProcessor(codeEcho, echo, PoolOptions{}))
	})
	cl := newTestClient(t, ClientOptions{ConnOptions: ConnOptions{TLS: &tls.Config{RootCAs: pool, ServerName: "localhost"}, Timeout: time.Minute}})
	errs := make(chan error, 8)
	var cancels []context.CancelFunc
	for i := range 8 {
		ctx, cancel := context.WithCancel(context.Background())
		cancels = append(cancels, cancel)
		go func() {
			_, err := cl.InvokeSync(ctx, addr, NewRequest(codeBlock, Fields{{Key: "id", Value: strconv.Itoa(i)}}, nil))
			errs <- err
		}()
	}
	// Four run, four wait unread; ending the four running ones makes room.
	running := map[int32]bool{}
	for range 4 {
		running[waitFor(t, started, "a request to start")] = true
	}
	for i, cancel := range cancels {
		if running[int32(i)] {
			cancel()
		}
	}
	for range 4 {
		waitFor(t, ended, "a handler's context to end")
		waitFor(t, errs, "a cancelled call")
	}
	waitN(t, started, 4, "a request read after the room came")
	for _, cancel := range cancels {
		cancel()
	}
	for range 4 {
		waitFor(t, ended, "a handler's context to end")
		waitFor(t, errs, "a cancelled call")
	}
	resp, err := cl.InvokeSync(context.Background(), addr, NewRequest(codeEcho, nil, []byte("after")))
	must(t, err)
	if string(resp.Body) != "after" {
		t.Fatalf("echo after the pause answered %q", resp.Body)
	}
}

// The oneway requests a peer sent just before it closed still run when the reader,
// waiting for room, met the close while reading ahead (docs/PROTOCOL.md,
// "Cancellation"); the contexts of the requests it waited for end at once.
func TestPausedReaderRunsOnewayBeforeClose(t *testing.T) {
	ran := make(chan int32, 16)
	_, nc, _, ended := pausedServer(t, 0, SerializeRocketMQ, framesOf(t, codeEcho, 10, 6, FlagOneway, SerializeRocketMQ), recordOpaque(t, codeEcho, ran))
	nc.Close()
	waitN(t, ended, 4, "a handler's context to end as the peer closed")
	waitN(t, ran, 6, "a oneway request sent before the close to run")
}

// A request whose bytes all came before the reader stopped for room is not cut by the
// frame's IdleTimeout when the wait for room took longer: that wait is this side's.
func TestPauseLongerThanIdleKeepsFrame(t *testing.T) {
	const idle = 300 * time.Millisecond
	started, ended := make(chan int32, 16), make(chan int32, 16)
	release := make(chan struct{})
	opts := ServerOptions{ConnOptions: ConnOptions{IdleTimeout: idle}}
	opts.MaxConnInflight = 4
	_, addr := startServer(t, opts, func(s *Server) {
		must(t, s.RegisterProcessor(codeBlock, blockUntilDone(started, ended, release), PoolOptions{Workers: 8}))
		must(t, s.RegisterProcessor(codeEcho, echo, PoolOptions{}))
	})
	nc := rawDial(t, addr)
	out := framesOf(t, codeBlock, 1, 4, 0, SerializeRocketMQ)
	big, err := AppendFrame(nil, &Command{Code: codeEcho, Opaque: 5, Body: make([]byte, 200<<10)}, SerializeRocketMQ)
	must(t, err)
	out = append(out, big...)
	go nc.Write(out) // all at once: the server reads part of the last frame before it stops
	waitN(t, started, 4, "a request to start")
	<-time.After(3 * idle) // the handlers take longer than IdleTimeout, as they may
	close(release)
	for i := range 5 {
		if r := readRawFrame(t, nc); r.Code != CodeSuccess {
			t.Fatalf("answer %d: code %d", i, r.Code)
		}
	}
}

// When the peer closes while the reader waits for room, the requests it sent and the
// reader has not read are not run: nobody waits for them. The connection closes even
// though the running handlers' answers could still be written.
func TestPausedReaderDropsRequestsAfterClose(t *testing.T) {
	s, nc, started, ended := pausedServer(t, 8, SerializeRocketMQ, nil, nil)
	nc.Close()
	waitN(t, ended, 4, "a handler's context to end as the peer closed")
	closedUnrun(t, s, started)
}

// The oneway requests a peer sent before it closed run at once, though the handlers
// in flight ignore their contexts and the reader has no room: the connection closes
// after them.
func TestPausedReaderRunsOnewayAtOnceAfterClose(t *testing.T) {
	started, ran := make(chan int32, 16), make(chan int32, 16)
	release := make(chan struct{})
	opts := ServerOptions{}
	opts.MaxConnInflight = 4
	s, addr := startServer(t, opts, func(s *Server) {
		must(t, s.RegisterProcessor(codeBlock, ProcessorFunc(func(_ context.Context, _ *Conn, req *Command) (*Command, error) {
			started <- req.Opaque
			<-release // work that does not look at its context
			return NewResponse(req, CodeSuccess, ""), nil
		}), PoolOptions{Workers: 16}))
		recordOpaque(t, codeEcho, ran)(s)
	})
	t.Cleanup(func() { close(release) }) // before the server's Close, which waits for the handlers
	nc := rawDial(t, addr)
	out := framesOf(t, codeBlock, 1, 6, 0, SerializeRocketMQ)
	out = append(out, framesOf(t, codeEcho, 101, 2, FlagOneway, SerializeRocketMQ)...)
	_, err := nc.Write(out)
	must(t, err)
	waitN(t, started, 4, "a request to start")
	nc.Close()
	waitN(t, ran, 2, "a oneway request sent before the close to run")
	closedUnrun(t, s, started)
}

// closedUnrun waits for s to close its connection, and fails if a request, unread when
// the peer closed it, started meanwhile.
func closedUnrun(t *testing.T, s *Server, started <-chan int32) {
	t.Helper()
	waitUntil(t, func() bool { return s.Stats().Conns == 0 })
	select {
	case id := <-started:
		t.Fatalf("request %d, unread when its peer closed, ran", id)
	default:
	}
}

// framesOf is n requests of code, with the opaques from first on.
func framesOf(t testing.TB, code, first int32, n int, flag int32, ser SerializeType) []byte {
	var out []byte
	for i := range int32(n) {
		out = append(out, frameOf(t, code, first+i, flag, nil, ser)...)
	}
	return out
}

// waitN waits for n values from ch.
func waitN[T any](t testing.TB, ch <-chan T, n int, what string) {
	t.Helper()
	for range n {
		waitFor(t, ch, what)
	}
}

// TestPausedReaderNoticeForUnreadRequestEndsIt: docs/OPERATIONS.md says of a reader
// paused at its requests in flight that cancel notices in its buffer end the requests
// they name, and "a notice for a request still unread there is applied when that
// request is read, so it ends too". Here reading that request fills the share again.
func TestPausedReaderNoticeForUnreadRequestEndsIt(t *testing.T) {
	_, nc, started, ended := pausedServer(t, 1, SerializeRocketMQ, nil, nil)
	// Request 5 is unread in the buffer; the notices for 1 and 5 come behind it.
	_, err := nc.Write(append(cancelFrame(t, 101, 1, SerializeRocketMQ), cancelFrame(t, 105, 5, SerializeRocketMQ)...))
	must(t, err)
	if id := waitFor(t, ended, "request 1's context to end"); id != 1 {
		t.Fatalf("request %d ended, want 1", id)
	}
	if id := waitFor(t, started, "request 5 to start once 1 is answered"); id != 5 {
		t.Fatalf("request %d started, want 5", id)
	}
	select {
	case id := <-ended:
		if id != 5 {
			t.Fatalf("request %d ended, want 5", id)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("request 5 was read and runs 2 s later: the cancel notice for it, read ahead while it was unread, was not applied")
	}
}
