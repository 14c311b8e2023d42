package rpc

import (
	"context"
	"fmt"
	"sync/atomic"
)

// Resolver chooses the providers of a call. Resolve appends to dst the addresses to
// try, best first: the client sends the call to the first and fails over along the
// rest. It is called for every call, from many goroutines at once. It must return at
// once when it knows providers; it may wait, until ctx ends, while it knows none
// (registry.Registry does, for a provider that is still joining). ctx ends at the
// call's deadline, at ClientOptions.Timeout for a unary call without one (it then
// reports no deadline; a stream without one has none), and when the client closes;
// it ends too when Resolve returns, and a resolver may keep its values past that
// (context.WithoutCancel). registry.Registry implements it with gossip and
// consistent hashing.
type Resolver interface {
	Resolve(ctx context.Context, call *Call, dst []string) ([]string, error)
}

// ImmediateResolver is implemented by resolvers that can tell at once whether they
// know a provider (registry.Registry, StaticAddress, StaticList): ResolveNow is Resolve
// without waiting, with the caller's context, and reports false (or no address) when
// it knows no provider now. A client makes what a wait needs (a context that ends at
// the call's deadline and at Close, and for InvokeAsync a goroutine of its own) only
// for calls that must wait; with a resolver that does not implement it, for every
// call. A resolver that wraps another passes ResolveNow on.
type ImmediateResolver interface {
	ResolveNow(ctx context.Context, call *Call, dst []string) ([]string, bool)
}

// FailureReporter is implemented by resolvers that want to hear of failed calls, to
// keep a failing provider out of rotation for a while. The client calls it for
// failures of the connection or of the provider, never for application errors.
type FailureReporter interface {
	ReportFailure(addr string, err error)
}

// StaticAddress returns a resolver that sends every call to addr.
func StaticAddress(addr string) Resolver { return staticAddress(addr) }

type staticAddress string

func (a staticAddress) Resolve(_ context.Context, _ *Call, dst []string) ([]string, error) {
	return append(dst, string(a)), nil
}

// ResolveNow is Resolve: it never waits.
func (a staticAddress) ResolveNow(_ context.Context, _ *Call, dst []string) ([]string, bool) {
	return append(dst, string(a)), true
}

// StaticList returns a resolver that spreads calls over addrs round-robin and fails
// over to the next addresses in the list.
func StaticList(addrs ...string) (Resolver, error) {
	if len(addrs) == 0 {
		return nil, fmt.Errorf("rpc: StaticList needs at least one address")
	}
	return &staticList{addrs: append([]string(nil), addrs...)}, nil
}

type staticList struct {
	addrs []string
	next  atomic.Uint32
}

func (l *staticList) Resolve(ctx context.Context, call *Call, dst []string) ([]string, error) {
	dst, _ = l.ResolveNow(ctx, call, dst)
	return dst, nil
}

// ResolveNow is Resolve: it never waits.
func (l *staticList) ResolveNow(_ context.Context, _ *Call, dst []string) ([]string, bool) {
	start := int(l.next.Add(1)-1) % len(l.addrs)
	dst = append(dst, l.addrs[start:]...)
	return append(dst, l.addrs[:start]...), true
}
