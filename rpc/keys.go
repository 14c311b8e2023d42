package rpc

import (
	"context"
	"strconv"
)

// KeyInt formats an integer route key; generated code calls it for route-key
// parameters of integer types.
func KeyInt(v int64) string { return strconv.FormatInt(v, 10) }

// KeyUint formats an unsigned integer route key.
func KeyUint(v uint64) string { return strconv.FormatUint(v, 10) }

// KeyJSON formats any other route key as its JSON, or returns "" when v cannot be
// encoded (a panic included); the argument itself then fails to encode with the reason.
func KeyJSON(v any) string {
	b, err := marshal(v)
	if err != nil {
		return ""
	}
	return string(b)
}

// InvokeOnewayAsync sends a oneway call and returns a future completed once it is
// queued for writing, or with the error that stopped it.
func InvokeOnewayAsync(c *Client, ctx context.Context, call *Call) *Future[struct{}] {
	f := newFuture[struct{}]()
	f.complete(struct{}{}, c.InvokeOneway(ctx, call))
	return f
}
