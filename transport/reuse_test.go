package transport

import (
	"bytes"
	"context"
	"fmt"
	"testing"
)

// A pool with ReuseRequests gives each request back once it is answered: what its
// processor kept of it is overwritten (in tests), or holds a later request, by the
// time the worker takes the next one. Without it, the transport never touches a
// request again.
func TestReuseRequestsGivesBackAnsweredRequests(t *testing.T) {
	for _, tc := range []struct {
		reuse      bool
		size       int // of the bodies
		wantIntact bool
	}{
		{reuse: false, size: 8, wantIntact: true},
		{reuse: true, size: 8, wantIntact: false},
		{reuse: true, size: 800, wantIntact: false},           // a realistic payload's
		{reuse: true, size: reusedBody + 1, wantIntact: true}, // left to the collector
	} {
		body := func(s string) []byte { return append([]byte(s), bytes.Repeat([]byte{' '}, tc.size-len(s))...) }
		t.Run(fmt.Sprint("ReuseRequests=", tc.reuse, ",size=", tc.size), func(t *testing.T) {
			type keptReq struct {
				req  *Command
				body []byte
			}
			kept := make(chan keptReq, 2)
			release := make(chan struct{})
			_, addr := startServer(t, ServerOptions{}, func(s *Server) {
				must(t, s.RegisterProcessor(codeEcho, ProcessorFunc(func(_ context.Context, _ *Conn, req *Command) (*Command, error) {
					kept <- keptReq{req, req.Body}
					if bytes.HasPrefix(req.Body, []byte("second")) {
						<-release // until the first is looked at: nothing touches it meanwhile
					}
					return NewResponse(req, CodeSuccess, ""), nil
				}), PoolOptions{Workers: 1, ReuseRequests: tc.reuse}))
			})
			defer closeOnce(release)
			cl := newTestClient(t, ClientOptions{})
			send := func(s string) (*Command, error) {
				return cl.InvokeSync(context.Background(), addr, NewRequest(codeEcho, Fields{{Key: "k", Value: "v"}}, body(s)))
			}
			_, err := send("first")
			must(t, err)
			second := make(chan error, 1)
			go func() { _, err := send("second"); second <- err }()
			// One worker: it gave the first request back before it took the second.
			first := waitFor(t, kept, "the first request")
			waitFor(t, kept, "the second request")
			intact := bytes.Equal(first.body, body("first")) && first.req.ExtFields.Get("k") == "v"
			if intact != tc.wantIntact {
				t.Errorf("the first request, once the worker took the second: body %q, fields %v; want intact %v", first.body, first.req.ExtFields, tc.wantIntact)
			}
			closeOnce(release)
			must(t, waitFor(t, second, "the second answer"))
		})
	}
}
