package rpc

import (
	"context"
	"maps"
	"strings"

	"github.com/ringrpc/ringrpc/transport"
)

// Metadata is string key/value pairs that travel with a call, in the request's
// extFields under metadataPrefix; providers can send some back with the response.
type Metadata map[string]string

type (
	outgoingKey struct{}
	routeKey    struct{}
	retryKey    struct{}
	replyMDKey  struct{}
	serverKey   struct{}
)

// WithMetadata returns a context whose calls carry the pairs kv (key, value, key,
// value...) in addition to the metadata ctx already carries. An odd trailing key is
// ignored.
func WithMetadata(ctx context.Context, kv ...string) context.Context {
	old, _ := ctx.Value(outgoingKey{}).(Metadata)
	md := make(Metadata, len(old)+len(kv)/2)
	maps.Copy(md, old)
	for i := 0; i+1 < len(kv); i += 2 {
		md[kv[i]] = kv[i+1]
	}
	return context.WithValue(ctx, outgoingKey{}, md)
}

// OutgoingMetadata returns the metadata calls made with ctx carry. Do not modify it.
func OutgoingMetadata(ctx context.Context) Metadata {
	md, _ := ctx.Value(outgoingKey{}).(Metadata)
	return md
}

// IncomingMetadata returns the caller's metadata inside a handler, or from a handler's
// context kept after it returned. Do not modify it.
func IncomingMetadata(ctx context.Context) Metadata {
	if h := handlerCtx(ctx); h != nil {
		return h.in
	}
	return nil
}

// SetReplyMetadata adds a pair to the metadata sent back with the response, from inside
// a handler; it reports false outside one, and once the handler has returned.
func SetReplyMetadata(ctx context.Context, key, value string) bool {
	h := handlerCtx(ctx)
	return h != nil && h.setReply(key, value)
}

// WithReplyMetadata returns a context whose call stores the provider's reply metadata
// in *dst when the response arrives.
func WithReplyMetadata(ctx context.Context, dst *Metadata) context.Context {
	return context.WithValue(ctx, replyMDKey{}, dst)
}

// WithRouteKey returns a context whose calls are routed by key, overriding the
// method's route-key parameter and the first argument.
func WithRouteKey(ctx context.Context, key string) context.Context {
	return context.WithValue(ctx, routeKey{}, key)
}

// WithRetry returns a context whose calls may be sent again to the next provider after
// the request left and the connection failed, as for Idempotent methods.
func WithRetry(ctx context.Context) context.Context {
	return context.WithValue(ctx, retryKey{}, true)
}

// PeerFromContext returns the caller's address inside a handler (or from a handler's
// context kept after it returned), or "".
func PeerFromContext(ctx context.Context) string {
	if h := handlerCtx(ctx); h != nil {
		return h.peer
	}
	return ""
}

// putMetadata appends md to ext under the prefix.
func putMetadata(ext transport.Fields, md Metadata) transport.Fields {
	for k, v := range md {
		ext = append(ext, transport.Field{Key: metadataPrefix + k, Value: v})
	}
	return ext
}

// takeMetadata collects the prefixed pairs of ext, or returns nil when there are none.
// Of a key sent twice, the later value wins.
func takeMetadata(ext transport.Fields) Metadata {
	var md Metadata
	for _, f := range ext {
		if name, ok := strings.CutPrefix(f.Key, metadataPrefix); ok {
			if md == nil {
				md = make(Metadata)
			}
			md[name] = f.Value
		}
	}
	return md
}
