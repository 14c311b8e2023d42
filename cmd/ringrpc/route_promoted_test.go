package main

import (
	"encoding/json"
	"testing"

	"github.com/ringrpc/ringrpc/rpc"
)

// Org, Base and Team mirror the types of the descriptor below, so that the test
// computes each key as the generated client does from the value encoding/json
// decodes the arguments into.
type Base struct{ Region string }

type Org struct {
	Slug string
	ID   int
	*Base
}

type Team struct {
	*Org
	Name string
}

// A route key promoted through an embedded pointer that is nil (none of the members
// promoted through it in the JSON) routes by the default key, the first argument's
// JSON, as the generated client's does (codegen/internal/gentest, Teams): not by the
// field's zero value. A member promoted through the same pointer sets it, as
// encoding/json decodes it: the key is then the field's, zero or not.
func TestRouteKeyPromotedThroughNilEmbeddedPointer(t *testing.T) {
	// The descriptor ringrpc-gen writes for
	//	//ringrpc:routekey t.Slug
	//	Join(ctx context.Context, t Team) error
	//	//ringrpc:routekey t.Region
	//	Move(ctx context.Context, t Team) error
	desc := &rpc.ServiceDesc{
		Methods: []rpc.MethodDesc{
			{Name: "Join", Params: []rpc.Param{{Name: "t", Type: "Team"}}, RouteKey: "t.Slug"},
			{Name: "Move", Params: []rpc.Param{{Name: "t", Type: "Team"}}, RouteKey: "t.Region"},
		},
		Types: []rpc.TypeDesc{{Name: "Team", Fields: []rpc.FieldDesc{
			{Name: "Slug", Type: "string", Via: "*Org"},
			{Name: "ID", Type: "int", Via: "*Org"},
			{Name: "Region", Type: "string", Via: "*Org.*Base"},
			{Name: "Name", Type: "string"},
		}}},
	}
	// generated is the key of the generated client's Join and Move.
	generated := func(method string, arg string) string {
		var team Team
		if err := json.Unmarshal([]byte(arg), &team); err != nil {
			t.Fatal(err)
		}
		switch {
		case method == "Join" && team.Org != nil:
			return team.Slug
		case method == "Move" && team.Org != nil && team.Base != nil:
			return team.Region
		}
		b, err := json.Marshal(team)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	ts := typesOf(desc)
	for _, tc := range []struct{ method, arg string }{
		{"Join", `{"Name":"x"}`},
		{"Join", `{"Slug":"eng","ID":0,"Name":"x"}`},
		{"Join", `{"slug":"eng","ID":0,"Name":"x"}`},
		{"Join", `{"ID":3,"Name":"x"}`},               // Org set, Slug left at ""
		{"Join", `{"Slug":null,"ID":0,"Name":"x"}`},   // null sets Org too
		{"Join", `{"Region":"eu","ID":0,"Name":"x"}`}, // through Org to its Base
		{"Move", `{"Name":"x"}`},
		{"Move", `{"Slug":"eng","ID":0,"Name":""}`}, // Org set, Base nil
		{"Move", `{"Region":"eu","Name":""}`},
		{"Move", `{"ID":1,"Region":null,"Name":""}`},
	} {
		m := desc.Methods[0]
		if tc.method == "Move" {
			m = desc.Methods[1]
		}
		args := []json.RawMessage{json.RawMessage(tc.arg)}
		key, ok, err := ts.routeKey(m, args)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			if key, err = ts.defaultKey(m, args); err != nil {
				t.Fatal(err)
			}
		}
		if want := generated(tc.method, tc.arg); key != want {
			t.Errorf("%s(%s) routes by %q through the CLI; the generated client routes it by %q", tc.method, tc.arg, key, want)
		}
	}
}

// A null or absent member of a type other than a pointer keeps its zero value, by
// which the generated client routes; a null or absent pointer routes by the default
// key.
func TestRouteKeyOfNullMembers(t *testing.T) {
	ts := typesOf(&rpc.ServiceDesc{Types: []rpc.TypeDesc{
		{Name: "Req", Fields: []rpc.FieldDesc{
			{Name: "id", Go: "ID", Type: "string"},
			{Name: "n", Go: "N", Type: "int"},
			{Name: "p", Go: "P", Type: "*int"},
			{Name: "in", Go: "In", Type: "Inner"},
			{Name: "team", Go: "Team", Type: "string", Via: "*Org"},
		}},
		{Name: "Inner", Fields: []rpc.FieldDesc{{Name: "k", Go: "K", Type: "string"}}},
	}})
	for _, tc := range []struct {
		typ, route, arg, key string
		ok                   bool
	}{
		{"Req", "r.ID", `{"id":null}`, "", true},
		{"Req", "r.N", `{"n":null}`, "0", true},
		{"Req", "r.P", `{"p":null}`, "", false},
		{"Req", "r.P", `{}`, "", false},
		{"Req", "r.In.K", `{"in":null}`, "", true},
		{"Req", "r.In.K", `{}`, "", true},
		{"Req", "r.ID", `null`, "", true},    // a Req left at its zero value
		{"Req", "r.Team", `null`, "", false}, // whose Org is nil
		{"*Req", "r.ID", `null`, "", false},  // a nil *Req
		{"Req", "r.Team", `{"n":1}`, "", false},
	} {
		m := rpc.MethodDesc{Name: "M", Params: []rpc.Param{{Name: "r", Type: tc.typ}}, RouteKey: tc.route}
		key, ok, err := ts.routeKey(m, []json.RawMessage{json.RawMessage(tc.arg)})
		if err != nil || key != tc.key || ok != tc.ok {
			t.Errorf("%s of %s (%s): key %q ok %v err %v; want %q %v", tc.route, tc.arg, tc.typ, key, ok, err, tc.key, tc.ok)
		}
	}
}
