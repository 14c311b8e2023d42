package main

import (
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/ringrpc/ringrpc/rpc"
)

// An integer first argument routes by its decimal text as the generated client writes
// it: -0, which the checks take as an integer, is the client's 0.
func TestDefaultKeyNegativeZeroInteger(t *testing.T) {
	m := rpc.MethodDesc{Name: "M", Params: []rpc.Param{{Name: "n", Type: "int"}, {Name: "b", Type: "int"}}}
	key, err := typeSet{}.defaultKey(m, []json.RawMessage{json.RawMessage(`-0`), json.RawMessage(`1`)})
	if err != nil || key != "0" {
		t.Errorf("[-0,1] routes by %q (%v), the generated client's M(ctx, 0, 1) by %q", key, err, "0")
	}
}

// Every number spelling the checks let through routes as the generated client writes
// the value it decodes to, as encoding/json writes it for the parameter's (or the
// route-key field's) Go type; the spellings no integer type decodes from are refused
// before anything is routed.
func TestNumberKeysAsEncodingJSONWritesThem(t *testing.T) {
	marshal := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	ts := typesOf(&rpc.ServiceDesc{Types: []rpc.TypeDesc{
		{Name: "Count", Type: "uint16"},
		{Name: "Req", Fields: []rpc.FieldDesc{
			{Name: "n", Go: "N", Type: "int64"},
			{Name: "q", Go: "Q", Type: "int", Quoted: true},
			{Name: "r", Go: "R", Type: "float32"},
			{Name: "d", Go: "D", Type: "time.Duration"},
		}},
	}})
	for _, tc := range []struct {
		typ, arg, want string
	}{
		{"int", `-0`, marshal(int(0))},
		{"int8", `-0`, marshal(int8(0))},
		{"Count", `-0`, marshal(Count(0))},
		{"*int64", `-0`, marshal(int64(0))},
		{"time.Duration", `-0`, marshal(time.Duration(0))},
		{"int", `-12`, marshal(-12)},
		{"uint64", `18446744073709551615`, marshal(uint64(18446744073709551615))},
		{"float64", `-0`, marshal(math.Copysign(0, -1))},
		{"float64", `1.50`, marshal(1.5)},
		{"float64", `1E2`, marshal(1e2)},
		{"float64", `1e21`, marshal(1e21)},
		{"float64", `0.0000001`, marshal(1e-7)},
		{"float32", `0.123456789`, marshal(float32(0.123456789))},
		{"float32", `-0.0`, marshal(float32(math.Copysign(0, -1)))},
	} {
		m := rpc.MethodDesc{Name: "M", Params: []rpc.Param{{Name: "a", Type: tc.typ}}}
		args := []json.RawMessage{json.RawMessage(tc.arg)}
		if err := ts.checkArgs(m, args); err != nil {
			t.Errorf("%s %s: %v", tc.typ, tc.arg, err)
			continue
		}
		if key, err := ts.defaultKey(m, args); err != nil || key != tc.want {
			t.Errorf("M(%s) with a %s routes by %q (%v); the generated client by %q", tc.arg, tc.typ, key, err, tc.want)
		}
	}
	for _, tc := range []struct{ route, arg, want string }{
		{"a.N", `{"n":-0}`, rpc.KeyInt(0)},
		{"a.Q", `{"q":"-0"}`, rpc.KeyInt(0)},
		{"a.D", `{"d":-0}`, rpc.KeyInt(int64(time.Duration(0)))},
		{"a.D", `{}`, rpc.KeyInt(0)}, // absent: the zero value
		{"a.R", `{"r":0.123456789}`, rpc.KeyJSON(float32(0.123456789))},
		{"a.R", `{"r":1e2}`, rpc.KeyJSON(float32(100))},
	} {
		m := rpc.MethodDesc{Name: "M", Params: []rpc.Param{{Name: "a", Type: "Req"}}, RouteKey: tc.route}
		args := []json.RawMessage{json.RawMessage(tc.arg)}
		if err := ts.checkArgs(m, args); err != nil {
			t.Errorf("%s of %s: %v", tc.route, tc.arg, err)
			continue
		}
		if key, ok, err := ts.routeKey(m, args); err != nil || !ok || key != tc.want {
			t.Errorf("%s of %s routes by %q (ok %v, %v); the generated client by %q", tc.route, tc.arg, key, ok, err, tc.want)
		}
	}
	for _, arg := range []string{`1.0`, `1e2`, `-0.0`} {
		m := rpc.MethodDesc{Name: "M", Params: []rpc.Param{{Name: "a", Type: "int"}}}
		if err := ts.checkArgs(m, []json.RawMessage{json.RawMessage(arg)}); err == nil {
			t.Errorf("M(%s) with an int passes the checks; encoding/json decodes it into no int", arg)
		}
	}
}

// Count is a named integer type, as the descriptor above describes it.
type Count uint16
