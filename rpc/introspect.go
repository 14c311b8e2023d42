package rpc

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"

	json "github.com/goccy/go-json"
)

// IntrospectionService is the service every Server answers: its Services method
// returns the descriptors of the services registered on that server, as JSON.
const IntrospectionService = "ringrpc.Introspection"

var introspectionDesc = ServiceDesc{
	Name: IntrospectionService,
	Methods: []MethodDesc{
		{Name: "Services", Results: []string{"[]rpc.ServiceDesc"}, Idempotent: true},
	},
}

// introspect answers Services with the server's descriptors, sorted by name.
func (s *Server) introspect(_ context.Context, args *Decoder, res *Encoder) error {
	if err := args.Finish(); err != nil {
		return err
	}
	descs := s.Services()
	slices.SortFunc(descs, func(a, b *ServiceDesc) int { return strings.Compare(a.Name, b.Name) })
	res.Value(&descs)
	return nil
}

// ListServices asks the provider the resolver picks for its services, through the
// introspection service.
func (c *Client) ListServices(ctx context.Context) ([]ServiceDesc, error) {
	call := c.NewCall(&introspectionDesc, 0)
	d, err := c.Invoke(ctx, call)
	if err != nil {
		return nil, err
	}
	var descs []ServiceDesc
	d.Value(&descs)
	return descs, d.Finish()
}

// InvokeJSON calls a method by name with args, a JSON array, and returns the raw JSON
// of its results: for tools that have no generated code. A oneway method returns nil.
// Without a key from WithRouteKey the call routes by its first argument's JSON,
// compacted, as a generated client's call does when the JSON is written as its
// encoder writes it (encoding/json's).
func (c *Client) InvokeJSON(ctx context.Context, service string, method MethodDesc, args []byte) ([]byte, error) {
	if !json.Valid(args) || len(args) == 0 || args[0] != '[' {
		return nil, Errorf(CodeBadArguments, "arguments must be a JSON array, like [\"a\",1]; got %.40q", args)
	}
	svc := &ServiceDesc{Name: service, Methods: []MethodDesc{method}}
	call := c.NewCall(svc, 0)
	call.Args.raw(args)
	if method.Oneway {
		return nil, c.InvokeOneway(ctx, call)
	}
	d, err := c.Invoke(ctx, call)
	if err != nil {
		return nil, err
	}
	return d.data, nil
}

// raw sets the whole JSON array of arguments at once, a valid one. The call routes
// by its first value, compacted, as a generated client's routes by the JSON of its
// first argument (the method's name when there is none).
func (e *Encoder) raw(array []byte) {
	e.w.buf = append(e.w.buf[:e.start], array...)
	e.array = false
	e.n = 1
	e.firstEnd = len(e.w.buf)
	dec := json.NewDecoder(bytes.NewReader(array))
	var first json.RawMessage
	if _, err := dec.Token(); err != nil || !dec.More() || dec.Decode(&first) != nil {
		e.n = 0 // no arguments
		return
	}
	var compact bytes.Buffer
	if json.Compact(&compact, first) == nil {
		e.rawFirst = compact.Bytes()
	}
}

// String names the service and counts its methods, for logs.
func (d ServiceDesc) String() string { return fmt.Sprintf("%s (%d methods)", d.Name, len(d.Methods)) }
