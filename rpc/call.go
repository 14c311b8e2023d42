package rpc

import (
	"context"
	"sync"
	"time"

	"github.com/ringrpc/ringrpc/transport"
)

// Call is one call of a method, on the client or the server side. Interceptors and
// resolvers see it; generated client code writes the arguments into Args. A Call is
// recycled when the call ends: do not keep it.
type Call struct {
	// Args receives the arguments in order (client side).
	Args Encoder

	svc      *ServiceDesc
	m        *MethodDesc
	server   bool
	peer     string
	routeKey string
	hasKey   bool

	// client side
	ext        transport.Fields
	cmd        transport.Command
	addrs      []string
	attempt    int       // the attempt under way, from 0
	lastErr    error     // the error of the attempt before, or of this one once it ended
	fate       fate      // what the attempt's error proves, set by the innermost attempt invoker
	attemptErr *Error    // the error the innermost attempt invoker returned, whose fate is fate
	paidMoves  int       // moves that spent the retry budget
	awaitWrite bool      // a oneway call whose future completes when it is written
	deadline   time.Time // when its context has none: the call's start plus Timeout
	sentMS     int64     // the milliseconds of deadline it carries, when encoded or written again
	resp       *transport.Command
	body       []byte
	// A stream's call: life runs one range of it inside the interceptors, and opened
	// is the stream an attempt opened, inside the attempt interceptors.
	life   Invoker
	opened *transport.Stream

	// server side
	dec     Decoder
	res     Encoder
	handler Handler
}

var callPool = sync.Pool{New: func() any {
	return &Call{ext: make(transport.Fields, 0, 8), body: make([]byte, 0, 256)}
}}

func getCall(svc *ServiceDesc, m *MethodDesc) *Call {
	c := callPool.Get().(*Call)
	c.svc, c.m = svc, m
	return c
}

func putCall(c *Call) {
	if cap(c.body) > 64<<10 {
		c.body = make([]byte, 0, 256) // don't keep a one-off large buffer
	}
	clear(c.ext) // let go of the strings
	ext, body, addrs := c.ext[:0], c.body[:0], c.addrs[:0]
	// Cleared in place, then given its buffers back: a composite literal assigned
	// whole is built on the stack and copied, which costs more for a struct this size.
	*c = Call{}
	c.ext, c.body, c.addrs = ext, body, addrs
	callPool.Put(c)
}

// Service returns the service name.
func (c *Call) Service() string { return c.svc.Name }

// Method returns the method name.
func (c *Call) Method() string { return c.m.Name }

// Desc returns the method's descriptor.
func (c *Call) Desc() *MethodDesc { return c.m }

// Side returns "client" or "server".
func (c *Call) Side() string {
	if c.server {
		return "server"
	}
	return "client"
}

// Attempt returns the number of the attempt under way on the client side, from 0: an
// attempt interceptor sees 1 for the call's first move to another provider.
func (c *Call) Attempt() int { return c.attempt }

// LastError returns, to an attempt interceptor, the error of the previous attempt: why
// the call moved to this provider. It is nil for the first attempt.
func (c *Call) LastError() error { return c.lastErr }

// Peer returns the other side's address: the provider chosen for a client call (empty
// before one is chosen), the caller on the server.
func (c *Call) Peer() string { return c.peer }

// SetRouteKey sets the key that routes the call; generated code calls it for methods
// with a route-key directive.
func (c *Call) SetRouteKey(key string) {
	c.routeKey, c.hasKey = key, true
}

// RouteKey returns the key that routes the call, in order: a key set on ctx with
// WithRouteKey, the method's route-key parameter, the JSON of the first argument, the
// method name for methods without arguments.
func (c *Call) RouteKey(ctx context.Context) string {
	if k, ok := ctx.Value(routeKey{}).(string); ok {
		return k
	}
	if c.hasKey {
		return c.routeKey
	}
	if first := c.Args.first(); len(first) > 0 {
		return string(first)
	}
	return c.m.Name
}

// RawArgs returns the JSON array of the arguments, once they are encoded: in a
// client interceptor, before next as after it.
func (c *Call) RawArgs() []byte {
	if c.server {
		return c.dec.data
	}
	return c.Args.closedCopy()
}
