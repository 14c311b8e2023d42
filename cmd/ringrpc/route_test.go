package main

import (
	"encoding/json"
	"testing"

	"github.com/ringrpc/ringrpc/rpc"
)

// The key is the one a generated client computes: found by Go field names through
// JSON names, and formatted by the field's type.
func TestRouteKeyAsTheGeneratedClient(t *testing.T) {
	ts := typesOf(&rpc.ServiceDesc{Types: []rpc.TypeDesc{
		{Name: "Req", Fields: []rpc.FieldDesc{
			{Name: "user_id", Go: "UserID", Type: "string"},
			{Name: "n", Go: "N", Type: "int64", Quoted: true},
			{Name: "ratio", Go: "Ratio", Type: "float64"},
			{Name: "tok", Go: "Tok", Type: "Token"},
			{Name: "sku", Go: "SKU", Type: "SKU"},
			{Name: "sub", Go: "Sub", Type: "*Req"},
		}},
		{Name: "Token", Custom: true},
		{Name: "SKU", Type: "string"},
	}})
	tests := []struct {
		route, arg, key string
		ok              bool
	}{
		{"r.UserID", `{"user_id":"ann"}`, "ann", true},
		{"r.UserID", `{"USER_ID":"ann"}`, "ann", true},
		{"r.UserID", `{}`, "", true},                // absent: the zero value
		{"r.N", `{"n":"12"}`, "12", true},           // the string option
		{"r.Ratio", `{"ratio":1.50}`, "1.5", true},  // as encoding/json writes it
		{"r.Tok", `{"tok":"abc"}`, `"abc"`, true},   // its own JSON: KeyJSON
		{"r.SKU", `{"sku":"x-1"}`, "x-1", true},     // a named string
		{"r.Sub.UserID", `{"sub":null}`, "", false}, // a nil pointer: the default key
		{"r.Sub.UserID", `{"sub":{"user_id":"bo"}}`, "bo", true},
	}
	for _, tc := range tests {
		m := rpc.MethodDesc{Name: "M", Params: []rpc.Param{{Name: "r", Type: "*Req"}}, RouteKey: tc.route}
		key, ok, err := ts.routeKey(m, []json.RawMessage{json.RawMessage(tc.arg)})
		if err != nil || key != tc.key || ok != tc.ok {
			t.Errorf("%s of %s: key %q ok %v err %v; want %q %v", tc.route, tc.arg, key, ok, err, tc.key, tc.ok)
		}
	}
}
