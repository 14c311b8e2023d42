package rpc

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/ringrpc/ringrpc/transport"
)

// DefaultTimeout bounds a call whose context has no deadline.
const DefaultTimeout = 3 * time.Second

// ClientOptions configures a Client.
type ClientOptions struct {
	// Resolver chooses the provider of each call. Required: StaticAddress for one
	// server, StaticList for a fixed set, a registry.Registry for a gossip cluster.
	Resolver Resolver
	// Timeout bounds each attempt of a call whose context has no deadline.
	// Default DefaultTimeout.
	Timeout time.Duration
	// Interceptors wrap every call, the first outermost.
	Interceptors []Interceptor
	// RetryAfterSend lets every call fail over after its request left, as calls of
	// Idempotent methods and calls with WithRetry do.
	RetryAfterSend bool
	// Transport configures the connections; its Timeout is replaced by Timeout.
	Transport transport.ClientOptions
}

// Client calls services through a Resolver. It is safe for concurrent use; create one
// per process and share it between generated clients.
type Client struct {
	tc        *transport.Client
	resolver  Resolver
	reporter  FailureReporter
	timeout   time.Duration
	timeoutMS string // timeout in the form of HeaderTimeout, sent by calls without a deadline
	retry     bool
	invoke    Invoker
	hasChain  bool

	mu     sync.Mutex
	closed bool
	async  sync.WaitGroup // goroutines of async calls
}

// NewClient returns a client; it connects to providers on first use.
func NewClient(opts ClientOptions) (*Client, error) {
	if opts.Resolver == nil {
		return nil, errors.New("rpc: ClientOptions.Resolver is required: use rpc.StaticAddress(addr) for a single server")
	}
	topts := opts.Transport
	topts.Timeout = opts.Timeout
	if topts.Timeout <= 0 {
		topts.Timeout = DefaultTimeout
	}
	c := &Client{
		tc:        transport.NewClient(topts),
		resolver:  opts.Resolver,
		timeout:   topts.Timeout,
		timeoutMS: strconv.FormatInt(max(topts.Timeout.Milliseconds(), 1), 10),
		retry:     opts.RetryAfterSend,
		hasChain:  len(opts.Interceptors) > 0,
	}
	c.reporter, _ = opts.Resolver.(FailureReporter)
	c.invoke = chain(append([]Interceptor(nil), opts.Interceptors...), c.send)
	return c, nil
}

// Transport returns the underlying transport client.
func (c *Client) Transport() *transport.Client { return c.tc }

// Close fails the calls in flight with ErrClosed, closes every connection and waits
// for the client's goroutines.
func (c *Client) Close() error {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	err := c.tc.Close()
	c.async.Wait()
	return err
}

// NewCall starts a call of svc's method number method; generated code writes the
// arguments into its Args and passes it to Invoke, InvokeOneway or InvokeAsync, which
// take ownership.
func (c *Client) NewCall(svc *ServiceDesc, method int) *Call {
	call := getCall(svc, &svc.Methods[method])
	call.Args.reset(call.body, true)
	return call
}

// Invoke sends the call, waits for its response and returns a Decoder over the
// results. Errors are *Error values.
func (c *Client) Invoke(ctx context.Context, call *Call) (Decoder, error) {
	err := c.invoke(ctx, call)
	var d Decoder
	if err == nil {
		d = newDecoder(call.resp.Body, call.m.resultsArray())
		d.result = true
		d.m = call.m
	}
	putCall(call)
	return d, err
}

// InvokeOneway sends the call with the oneway flag and returns once it is queued.
func (c *Client) InvokeOneway(ctx context.Context, call *Call) error {
	err := c.invoke(ctx, call)
	putCall(call)
	return err
}

// send is the innermost invoker: encode, resolve, send, fail over.
func (c *Client) send(ctx context.Context, call *Call) error {
	if err := c.prepare(ctx, call); err != nil {
		return err
	}
	addrs, err := c.resolve(ctx, call)
	if err != nil {
		return err
	}
	retryAfterSend := c.retry || call.m.Idempotent || ctx.Value(retryKey{}) != nil
	var last *Error
	for i, addr := range addrs {
		call.peer = addr
		var retry bool
		last, retry = c.attempt(ctx, call, addr, retryAfterSend)
		if last == nil || !retry || i == len(addrs)-1 || ctx.Err() != nil {
			break
		}
	}
	if last != nil {
		return last
	}
	return nil
}

// attempt sends the call to one provider and reports whether a failure may be tried
// on the next.
func (c *Client) attempt(ctx context.Context, call *Call, addr string, retryAfterSend bool) (*Error, bool) {
	if call.m.Oneway {
		err := c.tc.InvokeOneway(ctx, addr, &call.cmd)
		if err == nil {
			return nil, false
		}
		c.report(addr, err)
		return fromTransport(err, c.target(call, addr)), errors.Is(err, transport.ErrConnectFailed)
	}
	resp, err := c.tc.InvokeSync(ctx, addr, &call.cmd)
	rerr, retry := c.outcome(ctx, call, addr, resp, err, retryAfterSend)
	if rerr == nil {
		call.resp = resp
	}
	return rerr, retry
}

// outcome classifies the result of one attempt: nil for success, else the error and
// whether the next provider may be tried.
func (c *Client) outcome(ctx context.Context, call *Call, addr string, resp *transport.Command, err error, retryAfterSend bool) (*Error, bool) {
	if err != nil {
		c.report(addr, err)
		retry := errors.Is(err, transport.ErrConnectFailed) || retryAfterSend && errors.Is(err, transport.ErrConnectionLost)
		return fromTransport(err, c.target(call, addr)), retry
	}
	if resp.Code == transport.CodeSuccess {
		c.replyMetadata(ctx, resp)
		return nil, false
	}
	rerr := &Error{Code: fromWire(resp.Code), Message: resp.Remark}
	// Busy and going-away providers did not run the call: another may.
	notRun := resp.Code == transport.CodeSystemBusy || resp.Code == transport.CodeGoAway
	if notRun {
		c.report(addr, rerr)
	}
	return rerr, notRun
}

func (c *Client) report(addr string, err error) {
	if c.reporter != nil {
		c.reporter.ReportFailure(addr, err)
	}
}

func (c *Client) target(call *Call, addr string) string {
	return "call " + call.svc.Name + "." + call.m.Name + " on " + addr
}

// prepare encodes the request command: headers, deadline, metadata, arguments.
func (c *Client) prepare(ctx context.Context, call *Call) error {
	body, err := call.Args.finish()
	call.body = body
	if err != nil {
		return Errorf(CodeBadArguments, "encoding the arguments of %s.%s: %w", call.svc.Name, call.m.Name, err)
	}
	timeout := c.timeoutMS
	if dl, ok := ctx.Deadline(); ok {
		remaining := time.Until(dl)
		if remaining <= 0 {
			return Errorf(CodeDeadlineExceeded, "call %s.%s: the deadline passed before it was sent", call.svc.Name, call.m.Name)
		}
		timeout = strconv.FormatInt(max(remaining.Milliseconds(), 1), 10)
	}
	ext := append(call.ext[:0],
		transport.Field{Key: HeaderInterface, Value: call.svc.Name},
		transport.Field{Key: HeaderMethod, Value: call.m.Name},
		transport.Field{Key: HeaderTimeout, Value: timeout})
	ext = putMetadata(ext, OutgoingMetadata(ctx))
	call.ext = ext
	call.cmd = transport.Command{Code: RequestCode, ExtFields: ext, Body: body}
	return nil
}

func (c *Client) resolve(ctx context.Context, call *Call) ([]string, error) {
	addrs, err := c.resolver.Resolve(ctx, call, call.addrs[:0])
	call.addrs = addrs
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			return nil, err
		}
		return nil, Errorf(CodeUnavailable, "resolving a provider of %s: %w", call.svc.Name, err)
	}
	if len(addrs) == 0 {
		return nil, Errorf(CodeUnavailable, "no provider of service %s is known: start one, or check the service name and the resolver", call.svc.Name)
	}
	return addrs, nil
}

func (c *Client) replyMetadata(ctx context.Context, resp *transport.Command) {
	if dst, ok := ctx.Value(replyMDKey{}).(*Metadata); ok {
		*dst = takeMetadata(resp.ExtFields)
	}
}

// String describes the client, for logs.
func (c *Client) String() string { return fmt.Sprintf("rpc.Client(%T)", c.resolver) }
