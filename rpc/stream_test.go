package rpc

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"iter"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ringrpc/ringrpc/transport"
)

// Feed is a streaming interface; the descriptor, client and dispatcher below are
// written the way ringrpc-gen writes them.
type Feed interface {
	Watch(ctx context.Context, topic string, n int) iter.Seq2[int, error]
	Upload(ctx context.Context, chunks iter.Seq[string]) (int, error)
	Chat(ctx context.Context, in iter.Seq[string]) iter.Seq2[string, error]
}

var feedDesc = ServiceDesc{
	Name: "github.com/ringrpc/ringrpc/rpc.Feed",
	Methods: []MethodDesc{
		{Name: "Watch", Params: []Param{{Name: "topic", Type: "string"}, {Name: "n", Type: "int"}}, ServerStream: "int"},
		{Name: "Upload", Results: []string{"int"}, ClientStream: "string"},
		{Name: "Chat", ClientStream: "string", ServerStream: "string"},
	},
}

type feedClient struct{ c *Client }

func decodeIntMsg(d *Decoder) (int, error) {
	var v int
	DecodeInt(d, &v)
	return v, d.Finish()
}

func decodeStringMsg(d *Decoder) (string, error) {
	var v string
	d.String(&v)
	return v, d.Finish()
}

func encodeIntMsg(e *Encoder, v int)       { EncodeInt(e, v) }
func encodeStringMsg(e *Encoder, v string) { e.String(v) }

func (x *feedClient) Watch(ctx context.Context, topic string, n int) iter.Seq2[int, error] {
	call := x.c.NewCall(&feedDesc, 0)
	call.Args.String(topic)
	EncodeInt(&call.Args, n)
	return ServerStream(x.c, ctx, call, decodeIntMsg)
}

func (x *feedClient) Upload(ctx context.Context, chunks iter.Seq[string]) (int, error) {
	call := x.c.NewCall(&feedDesc, 1)
	var r0 int
	d, err := ClientStream(x.c, ctx, call, chunks, encodeStringMsg)
	if err != nil {
		return r0, err
	}
	DecodeInt(&d, &r0)
	return r0, d.Finish()
}

func (x *feedClient) Chat(ctx context.Context, in iter.Seq[string]) iter.Seq2[string, error] {
	call := x.c.NewCall(&feedDesc, 2)
	return BidiStream(x.c, ctx, call, in, encodeStringMsg, decodeStringMsg)
}

func registerFeed(s *Server, impl Feed) error {
	return s.Register(&feedDesc, []Handler{
		func(ctx context.Context, args *Decoder, res *Encoder) error {
			var topic string
			var n int
			args.String(&topic)
			DecodeInt(args, &n)
			if err := args.Finish(); err != nil {
				return err
			}
			return SendAll(ctx, impl.Watch(ctx, topic, n), encodeIntMsg)
		},
		func(ctx context.Context, args *Decoder, res *Encoder) error {
			if err := args.Finish(); err != nil {
				return err
			}
			r0, err := impl.Upload(ctx, Received(ctx, decodeStringMsg))
			if err != nil {
				return err
			}
			EncodeInt(res, r0)
			return nil
		},
		func(ctx context.Context, args *Decoder, res *Encoder) error {
			if err := args.Finish(); err != nil {
				return err
			}
			return SendAll(ctx, impl.Chat(ctx, Received(ctx, decodeStringMsg)), encodeStringMsg)
		},
	})
}

// feed is the provider: what it produced, and why its streams ended, are watched.
type feed struct {
	produced atomic.Int64
	ended    chan error // the provider's context error as each stream's handler ends
}

func (f *feed) done(ctx context.Context) { f.ended <- ctx.Err() }

func (f *feed) Watch(ctx context.Context, topic string, n int) iter.Seq2[int, error] {
	return func(yield func(int, error) bool) {
		defer f.done(ctx)
		for i := 1; topic == "forever" || i <= n; i++ {
			f.produced.Store(int64(i))
			if !yield(i, nil) {
				return
			}
		}
		if topic == "fail" {
			yield(0, NewError(CodeNotFound, "topic fail ran out"))
		}
	}
}

func (f *feed) Upload(ctx context.Context, chunks iter.Seq[string]) (int, error) {
	defer f.done(ctx)
	total := 0
	for c := range chunks {
		if c == "fail" {
			return total, NewError(CodeFailedPrecondition, "a chunk said fail")
		}
		total += len(c)
	}
	return total, nil
}

func (f *feed) Chat(ctx context.Context, in iter.Seq[string]) iter.Seq2[string, error] {
	return func(yield func(string, error) bool) {
		defer f.done(ctx)
		for m := range in {
			if m == "fail" {
				yield("", NewError(CodeAborted, "chat aborted"))
				return
			}
			if !yield("re:"+m, nil) {
				return
			}
		}
	}
}

func startFeed(t testing.TB, opts ServerOptions) (*Server, *feed, string) {
	t.Helper()
	opts.Logger, opts.Transport.Logger = quiet, quiet
	s := NewServer(opts)
	f := &feed{ended: make(chan error, 2*manyStreams)}
	if err := registerFeed(s, f); err != nil {
		t.Fatal(err)
	}
	return s, f, serve(t, s.Serve, s.Close)
}

func newFeedClient(t testing.TB, addr string, opts ClientOptions) (*feedClient, *Client) {
	t.Helper()
	opts.Resolver = StaticAddress(addr)
	opts.Transport.Logger = quiet
	c, err := NewClient(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &feedClient{c}, c
}

func TestServerStreamInOrder(t *testing.T) {
	_, f, addr := startFeed(t, ServerOptions{})
	fc, _ := newFeedClient(t, addr, ClientOptions{})
	for range 2 { // each range opens the stream anew
		want := 1
		for v, err := range fc.Watch(context.Background(), "count", 5000) {
			if err != nil {
				t.Fatal(err)
			}
			if v != want {
				t.Fatalf("message %d is %d", want, v)
			}
			want++
		}
		if want != 5001 {
			t.Fatalf("got %d messages, want 5000", want-1)
		}
		if err := waitFor(t, f.ended, "the provider's end"); err != nil {
			t.Fatalf("the provider's context ended with %v before it returned", err)
		}
	}
}

// TestServerStreamProviderError: the provider's error comes after its messages, once.
func TestServerStreamProviderError(t *testing.T) {
	_, _, addr := startFeed(t, ServerOptions{})
	fc, _ := newFeedClient(t, addr, ClientOptions{})
	var got []int
	var errs []error
	for v, err := range fc.Watch(context.Background(), "fail", 3) {
		if err != nil {
			errs = append(errs, err)
			continue
		}
		got = append(got, v)
	}
	if fmt.Sprint(got) != "[1 2 3]" || len(errs) != 1 || CodeOf(errs[0]) != CodeNotFound || !strings.Contains(errs[0].Error(), "ran out") {
		t.Fatalf("got %v and errors %v, want [1 2 3] then one not_found", got, errs)
	}
}

// TestServerStreamBreak: a break in the caller's loop ends the provider's side at once.
func TestServerStreamBreak(t *testing.T) {
	_, f, addr := startFeed(t, ServerOptions{})
	fc, _ := newFeedClient(t, addr, ClientOptions{})
	n := 0
	for _, err := range fc.Watch(context.Background(), "forever", 0) {
		if err != nil {
			t.Fatal(err)
		}
		if n++; n == 10 {
			break
		}
	}
	if err := waitFor(t, f.ended, "the provider's end"); !errors.Is(err, context.Canceled) {
		t.Fatalf("the provider's context: %v, want canceled", err)
	}
}

// TestServerStreamCallerCancel: the caller's context ends the stream on both sides.
func TestServerStreamCallerCancel(t *testing.T) {
	_, f, addr := startFeed(t, ServerOptions{})
	fc, _ := newFeedClient(t, addr, ClientOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var last error
	n := 0
	for _, err := range fc.Watch(ctx, "forever", 0) {
		if err != nil {
			if last != nil {
				t.Fatalf("a second error: %v after %v", err, last)
			}
			last = err
			continue
		}
		if n++; n == 3 {
			cancel()
		}
	}
	if CodeOf(last) != CodeCanceled {
		t.Fatalf("the range ended with %v, want canceled", last)
	}
	if err := waitFor(t, f.ended, "the provider's end"); !errors.Is(err, context.Canceled) {
		t.Fatalf("the provider's context: %v, want canceled", err)
	}
}

// TestServerStreamDeadline: the caller's deadline travels and ends the stream.
func TestServerStreamDeadline(t *testing.T) {
	_, f, addr := startFeed(t, ServerOptions{})
	fc, _ := newFeedClient(t, addr, ClientOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	var last error
	for _, err := range fc.Watch(ctx, "forever", 0) {
		if err != nil {
			last = err
		}
	}
	if CodeOf(last) != CodeDeadlineExceeded {
		t.Fatalf("the range ended with %v, want deadline_exceeded", last)
	}
	if err := waitFor(t, f.ended, "the provider's end"); err == nil {
		t.Fatal("the provider's context did not end")
	}
}

// TestStreamConnectionKilled: a connection closed mid-stream fails both sides at once.
func TestStreamConnectionKilled(t *testing.T) {
	s, f, addr := startFeed(t, ServerOptions{})
	fc, _ := newFeedClient(t, addr, ClientOptions{})
	var last error
	n := 0
	for _, err := range fc.Watch(context.Background(), "forever", 0) {
		if err != nil {
			last = err
			continue
		}
		if n++; n == 5 {
			for _, c := range s.Transport().Conns() {
				c.Close()
			}
		}
	}
	if code := CodeOf(last); code != CodeUnavailable && code != CodeClosed {
		t.Fatalf("the range ended with %v, want the connection's loss", last)
	}
	if err := waitFor(t, f.ended, "the provider's end"); err == nil {
		t.Fatal("the provider's context did not end")
	}
}

// TestServerStreamSlowConsumer: a consumer that takes nothing stops its producer after
// the window; what is buffered stays within it as the consumer goes on.
func TestServerStreamSlowConsumer(t *testing.T) {
	const window = 8
	_, f, addr := startFeed(t, ServerOptions{Transport: transport.ServerOptions{ConnOptions: transport.ConnOptions{StreamWindow: window}}})
	fc, c := newFeedClient(t, addr, ClientOptions{Transport: transport.ClientOptions{ConnOptions: transport.ConnOptions{StreamWindow: window}}})
	_ = c
	next, stop := iter.Pull2(fc.Watch(context.Background(), "forever", 0))
	defer stop()
	for taken := int64(1); taken <= 50; taken++ {
		if _, err, ok := next(); !ok || err != nil {
			t.Fatalf("message %d: %v %v", taken, err, ok)
		}
		// The consumer grants half its window at a time. The producer gets as far as
		// the grants let it, plus the message it waits to send, and stops there.
		want := window + taken/(window/2)*(window/2) + 1
		waitUntil(t, func() bool { return f.produced.Load() >= want })
		if p := f.produced.Load(); p != want {
			t.Fatalf("produced %d with %d taken, want %d: the window of %d does not hold", p, taken, want, window)
		}
	}
	stop()
	if err := waitFor(t, f.ended, "the provider's end"); !errors.Is(err, context.Canceled) {
		t.Fatalf("the provider's context: %v", err)
	}
}

// waitUntil polls cond until it holds, for at most 10 seconds.
func waitUntil(t testing.TB, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out waiting for a condition")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestClientStream(t *testing.T) {
	_, f, addr := startFeed(t, ServerOptions{})
	fc, _ := newFeedClient(t, addr, ClientOptions{})
	chunks := func(yield func(string) bool) {
		for range 1000 {
			if !yield("abc") {
				return
			}
		}
	}
	n, err := fc.Upload(context.Background(), chunks)
	if err != nil || n != 3000 {
		t.Fatalf("Upload: %d, %v; want 3000", n, err)
	}
	waitFor(t, f.ended, "the provider's end")
}

// TestClientStreamProviderStops: a provider that answers early stops the caller's
// input: its iterator is not drained.
func TestClientStreamProviderStops(t *testing.T) {
	_, f, addr := startFeed(t, ServerOptions{})
	fc, _ := newFeedClient(t, addr, ClientOptions{})
	pulled := 0
	chunks := func(yield func(string) bool) {
		for i := 0; ; i++ {
			pulled++
			c := "x"
			if i == 10 {
				c = "fail"
			}
			if !yield(c) {
				return
			}
		}
	}
	_, err := fc.Upload(context.Background(), chunks)
	if CodeOf(err) != CodeFailedPrecondition {
		t.Fatalf("Upload: %v, want failed_precondition", err)
	}
	if pulled > 11+2*transport.DefaultStreamWindow {
		t.Fatalf("%d chunks pulled after the provider answered at the 11th", pulled)
	}
	waitFor(t, f.ended, "the provider's end")
}

// TestClientStreamCancel: the caller's context ends a client stream blocked on credit.
func TestClientStreamCancel(t *testing.T) {
	_, f, addr := startFeed(t, ServerOptions{})
	fc, _ := newFeedClient(t, addr, ClientOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	chunks := func(yield func(string) bool) {
		for i := 0; ; i++ {
			if i == 100 {
				cancel()
			}
			if !yield("x") {
				return
			}
		}
	}
	_, err := fc.Upload(ctx, chunks)
	if CodeOf(err) != CodeCanceled {
		t.Fatalf("Upload: %v, want canceled", err)
	}
	if err := waitFor(t, f.ended, "the provider's end"); !errors.Is(err, context.Canceled) {
		t.Fatalf("the provider's context: %v", err)
	}
}

// openWireStream opens stream 1, of the Feed's method with the JSON arguments args,
// from a peer written from docs/PROTOCOL.md alone, which takes 8 messages, and reads
// the provider's first frame: its grant of window messages.
func openWireStream(t *testing.T, addr, method, args string, window int) *wirePeer {
	t.Helper()
	p := wireDial(t, addr)
	p.send(wireFrame(1, wireHeader(0, 1, 4, "interfaceName", feedDesc.Name, "methodName", method, "ringrpc.window", "8"), []byte(args)))
	if g := p.next(); g.Code != 7704 || g.Ext["ringrpc.credit"] != strconv.Itoa(window) {
		t.Fatalf("first frame %v, want the provider's grant of %d messages", g, window)
	}
	return p
}

// wireUp is a frame of the opener's on stream 1 (code 7703, a oneway request) with
// the extFields ext besides ringrpc.sid.
func wireUp(body []byte, ext ...string) []byte {
	return wireFrame(1, wireHeader(7703, 2, 2, append([]string{"ringrpc.sid", "1"}, ext...)...), body)
}

// TestStreamProtocolBreakIsBadArguments: an opener that breaks the stream protocol
// (docs/PROTOCOL.md, "Stream frames") is answered bad_arguments naming what it did
// wrong, whatever the handler made of its cut stream: a client stream's handler
// returns what it read, a bidirectional one's ends its replies as its input ends, a
// server stream's fails to send, and none of these is the opener's answer. The
// opener is written from the document alone, as a peer that is not ringrpc would be,
// and waits for the response. The break comes once the handler runs: it has taken
// the opener's first message, and granted credit for it, or sent its own first.
func TestStreamProtocolBreakIsBadArguments(t *testing.T) {
	const window = 2 // the provider's: it grants one message as its handler takes one
	_, f, addr := startFeed(t, ServerOptions{Transport: transport.ServerOptions{ConnOptions: transport.ConnOptions{StreamWindow: window}}})
	msgs := func(bodies ...string) (b []byte) {
		for _, m := range bodies {
			b = binary.BigEndian.AppendUint32(b, uint32(len(m)))
			b = append(b, m...)
		}
		return b
	}
	first := wireUp([]byte(`"a"`), "ringrpc.seq", "1")
	cases := []struct {
		name   string
		method string
		args   string
		lead   []byte // the opener's frame before the provider's first
		next   []byte // its frame once the provider's first came
		code   int32  // of the response
		want   string // in its remark, or its body on success
	}{
		{"well-behaved client stream", "Upload", `[]`, first,
			wireUp([]byte(`"bb"`), "ringrpc.seq", "2", "ringrpc.flags", "1"), 0, "3"},
		{"client stream message out of sequence", "Upload", `[]`, first,
			wireUp([]byte(`"c"`), "ringrpc.seq", "3"), 703, "message 3 where 2 was due"},
		{"client stream count the body does not hold", "Upload", `[]`, first,
			wireUp(msgs(`"bb"`, `"c"`), "ringrpc.seq", "2", "ringrpc.count", "3"), 703, "message 3 of 3: the body ends"},
		{"client stream beyond the credit", "Upload", `[]`, first,
			wireUp(msgs(`"bb"`, `"c"`, `"d"`), "ringrpc.seq", "2", "ringrpc.count", "3"), 703, "messages 2 to 4 beyond the credit: 2 left of a window of 2"},
		{"bidirectional message out of sequence", "Chat", `[]`, first,
			wireUp([]byte(`"c"`), "ringrpc.seq", "3"), 703, "message 3 where 2 was due"},
		// The provider sends its first message at once, and waits for credit for its
		// ninth when the break comes.
		{"server stream message out of sequence", "Watch", `["forever",0]`, nil,
			wireUp([]byte(`"b"`), "ringrpc.seq", "2"), 703, "message 2 where 1 was due"},
	}
	for _, c := range cases {
		t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
			p := openWireStream(t, addr, c.method, c.args, window)
			if c.lead != nil {
				p.send(c.lead)
			}
			if m := p.next(); m.Code != 7704 || m.Flag&1 != 0 {
				t.Fatalf("got %v, want the provider's grant or message", m)
			}
			p.send(c.next)
			resp := p.next()
			for resp.Flag&1 == 0 { // the provider's messages and grants
				if resp.Code != 7704 {
					t.Fatalf("got %v, want a stream frame or the response", resp)
				}
				resp = p.next()
			}
			waitFor(t, f.ended, "the handler's end")
			if resp.Opaque != 1 || resp.Code != c.code {
				t.Fatalf("response %v, want code %d to the opening request", resp, c.code)
			}
			got := resp.Remark
			if c.code == 0 {
				got = string(resp.Body)
			} else if !strings.Contains(got, "broke the stream protocol") {
				t.Errorf("remark %q does not say that the opener broke the stream protocol", got)
			}
			if !strings.Contains(got, c.want) {
				t.Errorf("response %v, want %q in its remark, or its body on success", resp, c.want)
			}
		})
	}
}

// TestStreamMessageThatDoesNotDecode: a caller's stream message that does not decode
// is answered bad_arguments naming the message, not a parameter of the method.
func TestStreamMessageThatDoesNotDecode(t *testing.T) {
	_, f, addr := startFeed(t, ServerOptions{})
	p := openWireStream(t, addr, "Upload", `[]`, 4096) // the provider's default window
	p.send(wireUp([]byte(`1`), "ringrpc.seq", "1", "ringrpc.flags", "1"))
	resp := p.next()
	for resp.Flag&1 == 0 { // the provider's grants
		resp = p.next()
	}
	waitFor(t, f.ended, "the handler's end")
	const want = "message 1 of stream"
	if resp.Code != 703 || !strings.Contains(resp.Remark, want) || !strings.Contains(resp.Remark, "message: want a string") || strings.Contains(resp.Remark, "argument 1") {
		t.Fatalf("response %d %q, want 703 naming %q and no argument of the method", resp.Code, resp.Remark, want)
	}
}

// TestStreamProtocolBreakBeforeHandler: a break that ended the stream before its
// handler started is answered as one that came later, bad_arguments naming it, and not
// as a call that its caller cancelled before it started.
func TestStreamProtocolBreakBeforeHandler(t *testing.T) {
	held := make(chan struct{})
	release := sync.OnceFunc(func() { close(held) })
	var opts ServerOptions
	opts.Transport.Hooks = []transport.Hook{holdingHook(held)}
	s, _, addr := startFeed(t, opts)
	t.Cleanup(release)
	p := openWireStream(t, addr, "Upload", `[]`, transport.DefaultStreamWindow)
	// The reader applies frames in the order they come: once the ping is answered,
	// the break before it has ended the stream, whose handler the hook holds.
	p.send(wireUp([]byte(`"bb"`), "ringrpc.seq", "2"),
		wireFrame(1, wireHeader(7700, 3, 0), nil))
	if pong := p.next(); pong.Flag&1 == 0 || pong.Opaque != 3 {
		t.Fatalf("got %v, want the answer to the ping", pong)
	}
	release()
	resp := p.next()
	if resp.Flag&1 == 0 || resp.Opaque != 1 || resp.Code != 703 || !strings.Contains(resp.Remark, "broke the stream protocol (transport: malformed frame: stream 1: message 2 where 1 was due)") {
		t.Fatalf("got %v, want bad_arguments (703) naming the break", resp)
	}
	if st := s.Stats(); st.Cancelled != 0 {
		t.Errorf("%d calls counted cancelled by their callers, want none", st.Cancelled)
	}
}

// holdingHook holds every request a provider runs until it is closed, for at most 10 s.
type holdingHook chan struct{}

func (h holdingHook) BeforeRequest(string, *transport.Command) error {
	select {
	case <-h:
	case <-time.After(10 * time.Second):
	}
	return nil
}

func (h holdingHook) AfterResponse(string, *transport.Command, *transport.Command) error {
	return nil
}

// TestStreamBadFrameIsConnectionLoss: a frame that does not parse closes its
// connection (docs/PROTOCOL.md, "Connections"), which fails the streams on it with
// the reason: that is the connection's loss, not a stream's protocol break, and the
// stream is not counted as its opener's bad arguments.
func TestStreamBadFrameIsConnectionLoss(t *testing.T) {
	// A window of 2: the provider grants one message as its handler takes one.
	s, f, addr := startFeed(t, ServerOptions{Transport: transport.ServerOptions{ConnOptions: transport.ConnOptions{StreamWindow: 2}}})
	s.MethodStats()
	p := openWireStream(t, addr, "Upload", `[]`, 2)
	p.send(wireUp([]byte(`"a"`), "ringrpc.seq", "1"))
	if g := p.next(); g.Code != 7704 || g.Ext["ringrpc.credit"] != "1" {
		t.Fatalf("got %v, want the grant for the message the handler took", g)
	}
	// A JSON header cut short: the provider closes the connection.
	p.send(wireFrame(0, []byte(`{"code":`), nil))
	if err := waitFor(t, f.ended, "the handler's end"); err == nil {
		t.Fatal("the handler's context did not end with its connection")
	}
	var upload MethodStats
	counted := eventually(func() bool {
		for _, m := range s.MethodStats() {
			if m.Method == "Upload" {
				upload = m
			}
		}
		return upload.Calls == 1
	})
	if !counted || upload.Codes["bad_arguments"] != 0 || upload.Errors != 1 || upload.Codes["unavailable"] != 1 {
		t.Fatalf("Upload cut by its connection's loss is counted %+v; want one call, unavailable, though its handler returned what it had read", upload)
	}
}

// TestStreamCutShortSeenByInterceptors: a server interceptor, such as otelringrpc's,
// sees the outcome the method's figures count for a stream cut short, not what its
// handler made of it.
func TestStreamCutShortSeenByInterceptors(t *testing.T) {
	seen := make(chan error, 1)
	record := func(next Invoker) Invoker {
		return func(ctx context.Context, call *Call) error {
			err := next(ctx, call)
			if call.Method() == "Upload" {
				seen <- err
			}
			return err
		}
	}
	_, _, addr := startFeed(t, ServerOptions{Interceptors: []Interceptor{record},
		Transport: transport.ServerOptions{ConnOptions: transport.ConnOptions{StreamWindow: 2}}})
	p := openWireStream(t, addr, "Upload", `[]`, 2)
	p.send(wireUp([]byte(`"a"`), "ringrpc.seq", "1"))
	if g := p.next(); g.Code != 7704 {
		t.Fatalf("got %v, want the grant for the message the handler took", g)
	}
	p.send(wireFrame(0, []byte(`{"code":`), nil)) // the provider closes the connection
	select {
	case err := <-seen:
		if CodeOf(err) != CodeUnavailable {
			t.Fatalf("the interceptor saw %v, want unavailable: the stream's connection went before its handler returned", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the interceptor saw no outcome within 10 s")
	}
}

func TestBidiPingPong(t *testing.T) {
	_, f, addr := startFeed(t, ServerOptions{})
	fc, _ := newFeedClient(t, addr, ClientOptions{})
	out := make(chan string, 1)
	in := func(yield func(string) bool) {
		for m := range out {
			if !yield(m) {
				return
			}
		}
	}
	out <- "0"
	n := 0
	for v, err := range fc.Chat(context.Background(), in) {
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("re:%d", n); v != want {
			t.Fatalf("reply %q, want %q", v, want)
		}
		if n++; n == 100 {
			close(out)
			continue
		}
		out <- fmt.Sprint(n)
	}
	if n != 100 {
		t.Fatalf("%d replies, want 100", n)
	}
	waitFor(t, f.ended, "the provider's end")
}

// TestBidiProviderError: an error of the provider ends the caller's loop, once.
func TestBidiProviderError(t *testing.T) {
	_, _, addr := startFeed(t, ServerOptions{})
	fc, _ := newFeedClient(t, addr, ClientOptions{})
	in := func(yield func(string) bool) {
		for _, m := range []string{"a", "b", "fail", "c"} {
			if !yield(m) {
				return
			}
		}
	}
	var got []string
	var errs []error
	for v, err := range fc.Chat(context.Background(), in) {
		if err != nil {
			errs = append(errs, err)
		} else {
			got = append(got, v)
		}
	}
	if fmt.Sprint(got) != "[re:a re:b]" || len(errs) != 1 || CodeOf(errs[0]) != CodeAborted {
		t.Fatalf("got %v and %v", got, errs)
	}
}

// TestBidiBreak: a break ends the provider's side and the caller's sending.
func TestBidiBreak(t *testing.T) {
	_, f, addr := startFeed(t, ServerOptions{})
	fc, _ := newFeedClient(t, addr, ClientOptions{})
	var sent atomic.Int64
	in := func(yield func(string) bool) {
		for {
			sent.Add(1)
			if !yield("m") {
				return
			}
		}
	}
	n := 0
	for _, err := range fc.Chat(context.Background(), in) {
		if err != nil {
			t.Fatal(err)
		}
		if n++; n == 20 {
			break
		}
	}
	if err := waitFor(t, f.ended, "the provider's end"); !errors.Is(err, context.Canceled) {
		t.Fatalf("the provider's context: %v", err)
	}
}

// TestStreamFailsOver: a stream that could not reach a provider moves to the next.
func TestStreamFailsOver(t *testing.T) {
	_, _, good := startFeed(t, ServerOptions{})
	// A closed listener's port refuses the connection: the stream never left.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := l.Addr().String()
	l.Close()
	r, err := StaticList(ln, good)
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewClient(ClientOptions{Resolver: r, Transport: transport.ClientOptions{ConnOptions: transport.ConnOptions{Logger: quiet}}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fc := &feedClient{c}
	n := 0
	for _, err := range fc.Watch(context.Background(), "count", 3) {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != 3 {
		t.Fatalf("%d messages, want 3", n)
	}
}

// TestStreamUnaryOpening: a unary call of a stream method is refused with a reason.
func TestStreamMethodCalledUnary(t *testing.T) {
	_, _, addr := startFeed(t, ServerOptions{})
	_, c := newFeedClient(t, addr, ClientOptions{})
	call := c.NewCall(&feedDesc, 0)
	call.Args.String("count")
	EncodeInt(&call.Args, 1)
	_, err := c.Invoke(context.Background(), call)
	if CodeOf(err) != CodeBadArguments || !strings.Contains(err.Error(), "open a stream") {
		t.Fatalf("a unary call of a stream method: %v", err)
	}
}

// TestManyStreamsOneConnection opens streams concurrently on one connection, all open
// at once, each with its own order. Both sides allow that many streams: by default a
// connection takes 1000.
func TestManyStreamsOneConnection(t *testing.T) {
	n := manyStreams
	limits := transport.ConnOptions{MaxConnStreams: n, MaxStreams: n}
	_, f, addr := startFeed(t, ServerOptions{Transport: transport.ServerOptions{ConnOptions: limits}})
	limits.StreamWindow = 4
	fc, c := newFeedClient(t, addr, ClientOptions{Transport: transport.ClientOptions{ConnOptions: limits}})
	var wg sync.WaitGroup
	release := make(chan struct{})
	var opened sync.WaitGroup
	opened.Add(n)
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			want, first := 1, true
			for v, err := range fc.Watch(context.Background(), "count", 8) {
				if err != nil {
					errs <- err
					return
				}
				if v != want {
					errs <- fmt.Errorf("message %d is %d", want, v)
					return
				}
				want++
				if first {
					first = false
					opened.Done()
					<-release
				}
			}
		})
	}
	opened.Wait()
	if got := c.Transport().Connected(addr).OpenStreams(); got != n {
		t.Errorf("%d streams open on the connection, want %d", got, n)
	}
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for range n {
		<-f.ended
	}
}

// TestStreamOpenedRefillsTheRetryBudget: a stream that opened is a success for the
// retry budget, as a unary call's is: the tokens its moves take, its successes give
// back.
func TestStreamOpenedRefillsTheRetryBudget(t *testing.T) {
	_, _, addr := startFeed(t, ServerOptions{})
	fc, c := newFeedClient(t, addr, ClientOptions{Retry: RetryPolicy{MaxTokens: 4, TokenRatio: 0.5}})
	for c.budget.failed() {
	}
	for range 4 { // two tokens back
		for _, err := range fc.Watch(context.Background(), "count", 1) {
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	if !c.budget.allows() {
		t.Fatalf("four streams opened gave back no token: %d thousandths left of %d", c.budget.tokens.Load(), c.budget.max)
	}
}
