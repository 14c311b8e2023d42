package rpc

import (
	"context"
	"errors"
	"io"
	"iter"
	"testing"
	"time"
)

// waitingFeed's Watch sends nothing and returns, without an error, once its context ends.
type waitingFeed struct{ Feed }

func (waitingFeed) Watch(ctx context.Context, topic string, n int) iter.Seq2[int, error] {
	return func(yield func(int, error) bool) { <-ctx.Done() }
}

// TestStreamDeadlineAnswersDeadlineExceeded: docs/PROTOCOL.md §9.4, "The deadline": once
// the opening request's ringrpc.timeout passes, the acceptor's response is
// deadline_exceeded (704), whatever the handler returned. The opener, written from the
// document, does not reset the stream; the handler returns nil when its context ends.
func TestStreamDeadlineAnswersDeadlineExceeded(t *testing.T) {
	opts := ServerOptions{Logger: quiet}
	opts.Transport.Logger = quiet
	s := NewServer(opts)
	if err := registerFeed(s, waitingFeed{}); err != nil {
		t.Fatal(err)
	}
	addr := serve(t, s.Serve, s.Close)
	for i := range 20 {
		p := wireDial(t, addr)
		p.send(wireFrame(1, wireHeader(0, 7, 4, "interfaceName", feedDesc.Name, "methodName", "Watch",
			"ringrpc.timeout", "200", "ringrpc.window", "8"), []byte(`["x",0]`)))
		if g := p.next(); g.Code != 7704 {
			t.Fatalf("first frame %v, want the provider's grant", g)
		}
		if r := p.response(7); r.Code != 704 {
			t.Fatalf("round %d: a stream whose deadline passed was answered %v, want code 704 (deadline_exceeded)", i, r)
		}
	}
}

// TestSilentOpenerLosesItsStreamAtIdleTimeout: docs/PROTOCOL.md §1 and §9.4: a
// stream's handler does not keep its connection from the idle timeout, as a unary
// handler does; the acceptor counts on the opener's pings, so an opener that sends
// nothing loses the connection after IdleTimeout, and the handler's context ends.
func TestSilentOpenerLosesItsStreamAtIdleTimeout(t *testing.T) {
	const idle = 300 * time.Millisecond
	ended := make(chan error, 1)
	opts := ServerOptions{Logger: quiet}
	opts.Transport.Logger = quiet
	opts.Transport.IdleTimeout = idle
	s := NewServer(opts)
	if err := registerFeed(s, endedFeed{ended: ended}); err != nil {
		t.Fatal(err)
	}
	addr := serve(t, s.Serve, s.Close)
	p := wireDial(t, addr)
	start := time.Now()
	p.send(wireFrame(1, wireHeader(0, 7, 4, "interfaceName", feedDesc.Name, "methodName", "Watch",
		"ringrpc.window", "8"), []byte(`["x",0]`)))
	if g := p.next(); g.Code != 7704 {
		t.Fatalf("first frame %v, want the provider's grant", g)
	}
	for {
		_, err := p.read(10 * time.Second)
		if err == nil {
			continue // nothing is expected before the close; the close is what counts
		}
		if !errors.Is(err, io.EOF) {
			t.Fatalf("the connection of a silent opener: %v, want it closed", err)
		}
		break
	}
	if took := time.Since(start); took < idle {
		t.Errorf("closed after %v, before the idle timeout %v", took, idle)
	}
	select {
	case err := <-ended:
		if err == nil {
			t.Error("the handler's context ended without an error")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the handler's context did not end with its connection")
	}
}

// endedFeed's Watch reports why its context ended.
type endedFeed struct {
	Feed
	ended chan<- error
}

func (f endedFeed) Watch(ctx context.Context, topic string, n int) iter.Seq2[int, error] {
	return func(yield func(int, error) bool) {
		<-ctx.Done()
		f.ended <- ctx.Err()
	}
}

// TestStreamToAnUnknownServiceIsGrantedThenAnswered: docs/PROTOCOL.md §9.1: the service
// and method are looked up once the stream is accepted, so a stream opened to one the
// provider does not serve gets its grant first, then the unary call's answer.
func TestStreamToAnUnknownServiceIsGrantedThenAnswered(t *testing.T) {
	opts := ServerOptions{Logger: quiet}
	opts.Transport.Logger = quiet
	s := NewServer(opts)
	if err := registerFeed(s, waitingFeed{}); err != nil {
		t.Fatal(err)
	}
	addr := serve(t, s.Serve, s.Close)
	for _, c := range []struct {
		service, method string
		code            int32
	}{
		{"no.Such", "Watch", 717},
		{feedDesc.Name, "NoSuch", 718},
	} {
		p := wireDial(t, addr)
		p.send(wireFrame(1, wireHeader(0, 7, 4, "interfaceName", c.service, "methodName", c.method,
			"ringrpc.window", "8"), []byte(`["x",0]`)))
		if g := p.next(); g.Code != 7704 {
			t.Fatalf("%s.%s: first frame %v, want the provider's grant", c.service, c.method, g)
		}
		if r := p.response(7); r.Code != c.code {
			t.Errorf("%s.%s: answered %v, want code %d", c.service, c.method, r, c.code)
		}
	}
}
