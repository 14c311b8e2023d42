package rpc

import (
	"bytes"
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

var keeperDesc = ServiceDesc{
	Name: "github.com/ringrpc/ringrpc/rpc.Keeper",
	Methods: []MethodDesc{{
		Name:    "Keep",
		Params:  []Param{{Name: "s", Type: "string"}, {Name: "b", Type: "[]byte"}, {Name: "it", Type: "rpc.Item"}},
		Results: []string{"int"},
	}},
}

// pad makes the bodies of call i small, or of a few hundred bytes: both sizes of
// body are given back and reused.
func pad(i int) string { return strings.Repeat("x", i%4*250) }

// kept is what a Keep handler kept of one call's arguments and metadata.
type kept struct {
	s  string
	b  []byte
	it Item
	md Metadata
}

// The server's pools reuse a request's memory once it is answered. What a handler
// read from a request (strings, byte slices, structs decoded by go-json, metadata)
// is its own: a handler that keeps it finds it intact after many later requests
// were read into the memory its request had. In tests that memory is overwritten as
// it is given back, so a value that shared it would read garbage here.
func TestHandlerKeepsWhatItReadAfterTheRequestIsReused(t *testing.T) {
	var all []kept
	s := NewServer(ServerOptions{Logger: quiet, Workers: 1})
	if err := s.Register(&keeperDesc, []Handler{func(ctx context.Context, args *Decoder, res *Encoder) error {
		var k kept
		args.String(&k.s)
		args.Bytes(&k.b)
		args.Value(&k.it)
		if err := args.Finish(); err != nil {
			return err
		}
		k.md = IncomingMetadata(ctx)
		all = append(all, k) // one worker: no lock needed
		EncodeInt(res, len(all))
		return nil
	}}); err != nil {
		t.Fatal(err)
	}
	addr := serve(t, s.Serve, s.Close)
	c, err := NewClient(ClientOptions{Resolver: StaticAddress(addr)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	want := func(i int) kept {
		return kept{
			s:  fmt.Sprint("string ", i, pad(i)),
			b:  []byte(fmt.Sprint("bytes ", i)),
			it: Item{ID: i, Name: fmt.Sprint("item ", i), Tags: []string{fmt.Sprint("tag ", i)}, When: time.Unix(int64(i), 0).UTC()},
			md: Metadata{"k": fmt.Sprint("v", i)},
		}
	}
	const calls = 200
	for i := range calls {
		w := want(i)
		call := c.NewCall(&keeperDesc, 0)
		call.Args.String(w.s)
		call.Args.Bytes(w.b)
		call.Args.Value(&w.it)
		d, err := c.Invoke(WithMetadata(context.Background(), "k", w.md["k"]), call)
		if err != nil {
			t.Fatal(err)
		}
		var n int
		DecodeInt(&d, &n)
		if err := d.Finish(); err != nil || n != i+1 {
			t.Fatalf("call %d: answered %d, %v", i, n, err)
		}
	}
	for i, k := range all {
		w := want(i)
		if k.s != w.s || !bytes.Equal(k.b, w.b) || !reflect.DeepEqual(k.it, w.it) || !reflect.DeepEqual(k.md, w.md) {
			t.Fatalf("call %d: the handler kept %+v, want %+v", i, k, w)
		}
	}
}

// A client gives each response back to the transport once its results are decoded,
// and later responses are read into that memory: the results a caller kept, from sync
// calls and from futures, stay intact after many more calls.
func TestCallerKeepsResultsAfterTheResponseIsReused(t *testing.T) {
	_, _, addr := startGreeter(t, ServerOptions{})
	g, c := newGreeterClient(t, ClientOptions{Resolver: StaticAddress(addr)})
	ctx := context.Background()
	type results struct {
		hello, async string
		item         Item
	}
	want := func(i int) results {
		return results{
			hello: fmt.Sprintf("hello a%d b%d", i, i),
			async: fmt.Sprintf("hello c%d d%d", i, i),
			item:  Item{ID: i, Name: fmt.Sprint("item ", i, pad(i)), Tags: []string{fmt.Sprint("tag ", i)}, When: time.Unix(int64(i), 0).UTC()},
		}
	}
	var got []results
	for i := range 200 {
		w := want(i)
		var r results
		var err error
		if r.hello, err = g.SayHello(ctx, fmt.Sprint("a", i), fmt.Sprint("b", i)); err != nil {
			t.Fatal(err)
		}
		if r.async, err = sayHelloAsync(c, ctx, fmt.Sprint("c", i), fmt.Sprint("d", i)).Wait(ctx); err != nil {
			t.Fatal(err)
		}
		if r.item, err = g.Echo(ctx, &w.item); err != nil {
			t.Fatal(err)
		}
		got = append(got, r)
	}
	for i, r := range got {
		if w := want(i); !reflect.DeepEqual(r, w) {
			t.Fatalf("call %d: the caller kept %+v, want %+v", i, r, w)
		}
	}
}
