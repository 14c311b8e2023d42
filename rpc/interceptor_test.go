package rpc

import (
	"context"
	"fmt"
	"iter"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/ringrpc/ringrpc/transport"
)

// journal records what interceptors and the caller saw, in order.
type journal struct {
	mu     sync.Mutex
	events []string
}

func (j *journal) add(format string, args ...any) {
	j.mu.Lock()
	j.events = append(j.events, fmt.Sprintf(format, args...))
	j.mu.Unlock()
}

func (j *journal) String() string {
	j.mu.Lock()
	defer j.mu.Unlock()
	return strings.Join(j.events, " | ")
}

// streamInterceptors returns a call interceptor that adds metadata and notes the
// call's start and end, and an attempt interceptor that notes each provider tried.
func streamInterceptors(j *journal) (call, attempt Interceptor) {
	call = func(next Invoker) Invoker {
		return func(ctx context.Context, c *Call) error {
			j.add("start %s stream=%v side=%s", c.Method(), c.Desc().IsStream(), c.Side())
			err := next(WithMetadata(ctx, "from", "interceptor"), c)
			j.add("end %s", CodeOf(err))
			return err
		}
	}
	attempt = func(next Invoker) Invoker {
		return func(ctx context.Context, c *Call) error {
			err := next(ctx, c)
			j.add("attempt %d %s", c.Attempt(), CodeOf(err))
			return err
		}
	}
	return call, attempt
}

func words(msgs ...string) iter.Seq[string] {
	return func(yield func(string) bool) {
		for _, m := range msgs {
			if !yield(m) {
				return
			}
		}
	}
}

// TestClientInterceptorsWrapStreams: the client's interceptors run once around each
// stream, for its whole life: the metadata they add reaches the provider, next
// returns after the caller's last message, and it returns the stream's outcome. The
// attempt interceptors run around the opening, once per provider tried.
func TestClientInterceptorsWrapStreams(t *testing.T) {
	var seen sync.Map // the "from" metadata each handler saw, by method
	srvMeta := func(next Invoker) Invoker {
		return func(ctx context.Context, c *Call) error {
			seen.Store(c.Method(), IncomingMetadata(ctx)["from"])
			return next(ctx, c)
		}
	}
	_, f, addr := startFeed(t, ServerOptions{Interceptors: []Interceptor{srvMeta}})
	// A closed listener's port refuses the connection: every stream's first
	// attempt fails and it moves to the provider.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := l.Addr().String()
	l.Close()
	j := &journal{}
	call, attempt := streamInterceptors(j)
	ctx := context.Background()
	for _, tc := range []struct {
		name, want string
		run        func(fc *feedClient) error
	}{
		{"server stream", "start Watch stream=true side=client | attempt 0 unavailable | attempt 1 ok | got 1 | got 2 | end ok", func(fc *feedClient) error {
			for v, err := range fc.Watch(ctx, "count", 2) {
				if err != nil {
					return err
				}
				j.add("got %d", v)
			}
			return nil
		}},
		{"server stream error", "start Watch stream=true side=client | attempt 0 unavailable | attempt 1 ok | got 1 | end not_found | got not_found", func(fc *feedClient) error {
			for v, err := range fc.Watch(ctx, "fail", 1) {
				if err != nil {
					j.add("got %s", CodeOf(err))
					continue
				}
				j.add("got %d", v)
			}
			return nil
		}},
		{"server stream break", "start Watch stream=true side=client | attempt 0 unavailable | attempt 1 ok | got 1 | end ok", func(fc *feedClient) error {
			for v := range fc.Watch(ctx, "forever", 0) {
				j.add("got %d", v)
				break
			}
			return nil
		}},
		{"client stream", "start Upload stream=true side=client | attempt 0 unavailable | attempt 1 ok | end ok | got 6", func(fc *feedClient) error {
			n, err := fc.Upload(ctx, words("abc", "def"))
			j.add("got %d", n)
			return err
		}},
		{"client stream error", "start Upload stream=true side=client | attempt 0 unavailable | attempt 1 ok | end failed_precondition | got failed_precondition", func(fc *feedClient) error {
			_, err := fc.Upload(ctx, words("abc", "fail"))
			j.add("got %s", CodeOf(err))
			return nil
		}},
		{"bidi", "start Chat stream=true side=client | attempt 0 unavailable | attempt 1 ok | got re:a | got re:b | end ok", func(fc *feedClient) error {
			for v, err := range fc.Chat(ctx, words("a", "b")) {
				if err != nil {
					return err
				}
				j.add("got %s", v)
			}
			return nil
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// A client of its own: a client tries a provider that failed lately last.
			r, err := StaticList(dead, addr)
			if err != nil {
				t.Fatal(err)
			}
			c, err := NewClient(ClientOptions{Resolver: r, Interceptors: []Interceptor{call}, AttemptInterceptors: []Interceptor{attempt},
				Transport: transport.ClientOptions{ConnOptions: transport.ConnOptions{Logger: quiet}}})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			j.mu.Lock()
			j.events = nil
			j.mu.Unlock()
			if err := tc.run(&feedClient{c}); err != nil {
				t.Fatal(err)
			}
			if got := j.String(); got != tc.want {
				t.Errorf("seen:\n  %s\nwant:\n  %s", got, tc.want)
			}
			waitFor(t, f.ended, "the provider's end")
		})
	}
	for _, m := range []string{"Watch", "Upload", "Chat"} {
		if v, _ := seen.Load(m); v != "interceptor" {
			t.Errorf("%s: the provider saw the metadata %q, want what the client's interceptor added", m, v)
		}
	}
}

// TestStreamInterceptorEndsTheCall: an interceptor that returns an error without
// calling next opens no stream, and the caller sees its error, once.
func TestStreamInterceptorEndsTheCall(t *testing.T) {
	_, _, addr := startFeed(t, ServerOptions{})
	refuse := func(Invoker) Invoker {
		return func(context.Context, *Call) error {
			return NewError(CodePermissionDenied, "not you")
		}
	}
	fc, c := newFeedClient(t, addr, ClientOptions{Interceptors: []Interceptor{refuse}})
	ctx := context.Background()
	var errs []Code
	for v, err := range fc.Watch(ctx, "count", 3) {
		if err == nil {
			t.Fatalf("Watch gave %d", v)
		}
		errs = append(errs, CodeOf(err))
	}
	if _, err := fc.Upload(ctx, words("a")); err != nil {
		errs = append(errs, CodeOf(err))
	}
	for v, err := range fc.Chat(ctx, words("a")) {
		if err == nil {
			t.Fatalf("Chat gave %q", v)
		}
		errs = append(errs, CodeOf(err))
	}
	if want := []Code{CodePermissionDenied, CodePermissionDenied, CodePermissionDenied}; !slices.Equal(errs, want) {
		t.Fatalf("errors %v, want %v", errs, want)
	}
	if st := c.Stats().Transport; st.Conns != 0 {
		t.Fatalf("%d connections: a refused stream was opened", st.Conns)
	}

	// One that returns nil without calling next: the stream is empty, and a client
	// stream, which has no results to give, says so.
	skip := func(Invoker) Invoker { return func(context.Context, *Call) error { return nil } }
	fc, _ = newFeedClient(t, addr, ClientOptions{Interceptors: []Interceptor{skip}})
	for v, err := range fc.Watch(ctx, "count", 3) {
		t.Fatalf("a skipped Watch gave %d %v", v, err)
	}
	if _, err := fc.Upload(ctx, words("a")); CodeOf(err) != CodeInternal || !strings.Contains(err.Error(), "interceptor") {
		t.Fatalf("a skipped Upload: %v", err)
	}
}

// TestStreamInterceptorSeesBadArguments: arguments that did not encode fail the call
// inside the interceptors, which record it as a unary call's.
func TestStreamInterceptorSeesBadArguments(t *testing.T) {
	_, _, addr := startFeed(t, ServerOptions{})
	var got error
	note := func(next Invoker) Invoker {
		return func(ctx context.Context, c *Call) error {
			got = next(ctx, c)
			return got
		}
	}
	_, c := newFeedClient(t, addr, ClientOptions{Interceptors: []Interceptor{note}})
	call := c.NewCall(&feedDesc, 0)
	call.Args.Value(panicky{Boom: true}) // its MarshalJSON panics
	EncodeInt(&call.Args, 1)
	for _, err := range ServerStream(c, context.Background(), call, decodeIntMsg) {
		if CodeOf(err) != CodeBadArguments {
			t.Fatalf("the range: %v", err)
		}
	}
	if CodeOf(got) != CodeBadArguments {
		t.Fatalf("the interceptor saw %v, want bad_arguments", got)
	}
}
