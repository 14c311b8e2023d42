package rpc

import (
	"context"
	"fmt"
)

// ServiceDesc describes a service: its name and its methods. Generated code declares one
// per interface and shares it between the client and the dispatcher.
type ServiceDesc struct {
	// Name is the service name on the wire: by default the interface's import path and
	// name, such as "example.com/shop/cart.Cart".
	Name    string
	Methods []MethodDesc
	// Types describes the named types the parameters and results use, nested ones
	// included, sorted by name: for tools that write a call's JSON without the Go
	// source. Calls do not read it.
	Types []TypeDesc `json:",omitempty"`
}

// TypeDesc describes a named type as its JSON travels: a struct's members, another
// type's underlying type, or neither for a type with JSON methods of its own.
type TypeDesc struct {
	// Name is the type as Param.Type spells it: "Order", "time.Duration".
	Name string
	// Type is the underlying type of a type that is not a struct, such as "float64"
	// or "[]Item"; empty for a struct and for a Custom type.
	Type string `json:",omitempty"`
	// Fields are a struct's members in the order they are written, as
	// encoding/json sees them: embedded structs' fields promoted, "-" left out.
	Fields []FieldDesc `json:",omitempty"`
	// Custom marks a type with its own MarshalJSON or MarshalText: its JSON is
	// whatever those write (time.Time is an RFC 3339 string).
	Custom bool `json:",omitempty"`
}

// FieldDesc is one member of a struct's JSON object.
type FieldDesc struct {
	// Name is the JSON member name.
	Name string
	// Go is the Go field's name when it differs from Name; route-key directives
	// name fields by it.
	Go string `json:",omitempty"`
	// Type is the field's Go type, spelled as Param.Type is.
	Type string
	// OmitEmpty marks the omitempty option: the member is left out when empty.
	OmitEmpty bool `json:",omitempty"`
	// Quoted marks the string option: the number or boolean travels inside a JSON
	// string, like "12".
	Quoted bool `json:",omitempty"`
	// Via is, for a member promoted through an embedded pointer, the embedded
	// fields it is promoted through by Go name, up to the last pointer, each pointer
	// marked with a star: "*Org", "Base.*Org". Such a pointer is nil until a member
	// promoted through it is decoded, and a route key through a nil one falls back
	// to the default key. Empty for every other member.
	Via string `json:",omitempty"`
}

// MethodDesc describes one method.
type MethodDesc struct {
	// Name is the Go method name, sent as the request's methodName.
	Name string
	// Params are the parameters after the context, for introspection and messages.
	Params []Param
	// Results are the types of the results before the trailing error.
	Results []string
	// Oneway marks a method with no results at all: it is sent with the oneway flag
	// and never answered.
	Oneway bool
	// Idempotent marks a method that may be sent again after a failure once the
	// request has left, to another provider.
	Idempotent bool
	// RouteKey names the parameter, or a field path in it, whose value routes the call
	// on a consistent-hash ring; empty means the first argument.
	RouteKey string
	// ClientStream is the Go type of the messages the caller streams to the provider
	// (an iter.Seq parameter, not in Params), and ServerStream the type of those the
	// provider streams back (an iter.Seq2 result, not in Results); empty when the
	// method does not stream that way.
	ClientStream string `json:",omitempty"`
	ServerStream string `json:",omitempty"`
}

// Param is a parameter's name and Go type.
type Param struct {
	Name     string
	Type     string
	Variadic bool
}

// Handler decodes a call's arguments from args, calls the implementation and writes
// its results to results. Generated dispatchers provide one per method; an error
// returned by the implementation is returned as is.
type Handler func(ctx context.Context, args *Decoder, results *Encoder) error

// resultsArray reports whether results travel as a JSON array: with two or more.
func (m *MethodDesc) resultsArray() bool { return len(m.Results) > 1 }

// validate checks a descriptor before it is served.
func (d *ServiceDesc) validate(handlers []Handler) error {
	if d == nil || d.Name == "" {
		return fmt.Errorf("rpc: a service descriptor needs a name")
	}
	if len(handlers) != len(d.Methods) {
		return fmt.Errorf("rpc: service %s has %d methods but %d handlers: regenerate its code with ringrpc-gen", d.Name, len(d.Methods), len(handlers))
	}
	seen := make(map[string]bool, len(d.Methods))
	for i, m := range d.Methods {
		switch {
		case m.Name == "":
			return fmt.Errorf("rpc: service %s: method %d has no name", d.Name, i)
		case seen[m.Name]:
			return fmt.Errorf("rpc: service %s: method %s is described twice", d.Name, m.Name)
		case handlers[i] == nil:
			return fmt.Errorf("rpc: service %s: method %s has no handler", d.Name, m.Name)
		case m.Oneway && len(m.Results) > 0:
			return fmt.Errorf("rpc: service %s: method %s is oneway but has results", d.Name, m.Name)
		case m.IsStream() && m.Oneway:
			return fmt.Errorf("rpc: service %s: method %s streams, so it cannot be oneway", d.Name, m.Name)
		case m.ServerStream != "" && len(m.Results) > 0:
			return fmt.Errorf("rpc: service %s: method %s streams its results, so it has no others", d.Name, m.Name)
		}
		seen[m.Name] = true
	}
	return nil
}
