package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/ringrpc/ringrpc/rpc"
)

// routeKey computes from the JSON arguments the key a generated client sets for m,
// from its //ringrpc:routekey directive. The directive names Go fields; the
// descriptor's types give their JSON names. The key is formatted as the generated
// client formats it: a string as is, an integer in decimal, anything else (a type
// with JSON methods of its own included) as its JSON. A member the arguments leave
// out (or null) keeps its zero value, which the key then is. ok is false when m has
// no directive or a nil pointer lies on the path: a null or absent pointer, or an
// embedded pointer (FieldDesc.Via) none of whose members the object holds, which
// decoding leaves nil. The call then routes by the default key, as a generated
// client's does.
func (ts typeSet) routeKey(m rpc.MethodDesc, args []json.RawMessage) (key string, ok bool, err error) {
	if m.RouteKey == "" {
		return "", false, nil
	}
	path := strings.Split(m.RouteKey, ".")
	i := paramIndex(m, path[0])
	if i < 0 || i >= len(args) {
		return "", false, fmt.Errorf("method %s routes by %s, which is not among its arguments", m.Name, m.RouteKey)
	}
	v, t, quoted := bytes.TrimSpace(args[i]), m.Params[i].Type, false
	for k, field := range path[1:] {
		if isNull(v) {
			return ts.zeroFrom(t, path[1+k:], m)
		}
		var obj map[string]json.RawMessage
		if json.Unmarshal(v, &obj) != nil {
			return "", false, fmt.Errorf("method %s routes by %s: argument %d (%s) is not a JSON object", m.Name, m.RouteKey, i+1, path[0])
		}
		f, described := ts.goField(t, field)
		next, found := lookupField(obj, f.Name)
		if !found && described {
			if ts.nilVia(t, f, obj) {
				return "", false, nil
			}
			return ts.zeroFrom(f.Type, path[2+k:], m)
		}
		if !found {
			return "", false, fmt.Errorf("method %s routes by %s, but argument %d (%s) has no member %s; if its JSON name differs, pass the key with --route-key", m.Name, m.RouteKey, i+1, path[0], field)
		}
		v, t, quoted = bytes.TrimSpace(next), f.Type, f.Quoted
	}
	if isNull(v) {
		return ts.zeroFrom(t, nil, m)
	}
	var inner string
	if quoted && json.Unmarshal(v, &inner) == nil {
		v = json.RawMessage(inner) // the string option: the value inside the string
	}
	return ts.formatKey(t, v)
}

// zeroFrom is the key of a value of type t left at its zero value, reached on by
// the Go fields of rest: none when a pointer lies on the way (the default key), else
// the zero value's key. A type the descriptor does not describe is taken for a
// pointer, as older servers' descriptors describe none.
func (ts typeSet) zeroFrom(t string, rest []string, m rpc.MethodDesc) (string, bool, error) {
	for _, field := range rest {
		if strings.HasPrefix(t, "*") {
			return "", false, nil
		}
		f, described := ts.goField(t, field)
		switch _, known := ts[t]; {
		case !described && known:
			return "", false, fmt.Errorf("method %s routes by %s, but type %s has no field %s; pass the key with --route-key", m.Name, m.RouteKey, t, field)
		case !described || strings.Contains(f.Via, "*"):
			return "", false, nil
		}
		t = f.Type
	}
	if _, described := ts[strings.TrimPrefix(t, "*")]; !described && ts.basicKind(t) == "" {
		return "", false, nil
	}
	return ts.zeroKey(t, m)
}

// nilVia reports whether f, a member of struct type t that obj leaves out, is
// promoted through an embedded pointer that decoding obj leaves nil: one that no
// member promoted through it is decoded into (encoding/json sets the pointer when it
// decodes one, null included).
func (ts typeSet) nilVia(t string, f rpc.FieldDesc, obj map[string]json.RawMessage) bool {
	steps := strings.Split(f.Via, ".")
	for n, step := range steps {
		if !strings.HasPrefix(step, "*") {
			continue
		}
		through := strings.Join(steps[:n+1], ".")
		set := false
		for _, g := range ts[strings.TrimPrefix(t, "*")].Fields {
			if g.Via == through || strings.HasPrefix(g.Via, through+".") {
				if _, ok := lookupField(obj, g.Name); ok {
					set = true
					break
				}
			}
		}
		if !set {
			return true
		}
	}
	return false
}

// goField finds the struct field of type t (or *t) that has Go name name; without a
// description of t, the field is looked for under its Go name.
func (ts typeSet) goField(t, name string) (rpc.FieldDesc, bool) {
	td, ok := ts[strings.TrimPrefix(t, "*")]
	if ok {
		for _, f := range td.Fields {
			if f.Go == name || f.Go == "" && f.Name == name {
				return f, true
			}
		}
	}
	return rpc.FieldDesc{Name: name}, false
}

// basicKind resolves t through pointers and described named types to the basic
// type the generated client formats the key by: "string", "int"... (time.Duration,
// an int64 to the client), or "" for anything that travels as JSON (and for types the
// descriptor does not describe).
func (ts typeSet) basicKind(t string) string {
	for range 16 {
		t = strings.TrimPrefix(t, "*")
		td, ok := ts[t]
		switch {
		case !ok:
			if _, basic := jsonKinds[t]; basic && t != "[]byte" && t != "time.Time" {
				return t
			}
			return ""
		case td.Custom || td.Type == "":
			return ""
		}
		t = td.Type
	}
	return ""
}

func (ts typeSet) formatKey(t string, v json.RawMessage) (string, bool, error) {
	kind := ts.basicKind(t)
	if kind == "string" || kind == "" && len(ts) == 0 && kindOf(v) == "string" {
		// Without types (an older server), a string is taken as is, as most keys are.
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return "", false, fmt.Errorf("the route key: %w", err)
		}
		return s, true, nil
	}
	key, err := numberKey(kind, v)
	return key, err == nil, err
}

// numberKey is v, a value of the basic type kind, as the generated client writes
// it: a float as encoding/json writes one of its bits (1.50 is 1.5, 1E2 is 100, and
// a float32 is rounded to one), an integer in decimal (-0 is 0); anything else is
// the JSON given, compacted.
func numberKey(kind string, v json.RawMessage) (string, error) {
	switch {
	case kind == "float32" || kind == "float64":
		bits := 64
		if kind == "float32" {
			bits = 32
		}
		f, err := strconv.ParseFloat(string(v), bits)
		if err != nil {
			return "", fmt.Errorf("the route key: want a number that a %s holds, got %s", kind, v)
		}
		var x any = f
		if bits == 32 {
			x = float32(f)
		}
		b, err := json.Marshal(x)
		return string(b), err
	case jsonKinds[kind] == "integer" && string(v) == "-0":
		// The only integer JSON spells two ways: the checks let 1.0 and 1e2 through
		// to no integer type, as encoding/json decodes neither into one.
		return "0", nil
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, v); err != nil {
		return "", err
	}
	return compact.String(), nil
}

// zeroKey is the key of a field left at its zero value.
func (ts typeSet) zeroKey(t string, m rpc.MethodDesc) (string, bool, error) {
	switch kind := ts.basicKind(t); {
	case strings.HasPrefix(t, "*"):
		return "", false, nil // a nil pointer: the default key
	case kind == "string":
		return "", true, nil
	case kind == "bool":
		return "false", true, nil
	case jsonKinds[kind] == "integer" || jsonKinds[kind] == "number":
		return "0", true, nil
	}
	return "", false, fmt.Errorf("method %s routes by %s, which the arguments leave at its zero value; pass the key with --route-key", m.Name, m.RouteKey)
}

func paramIndex(m rpc.MethodDesc, name string) int {
	for i, p := range m.Params {
		if p.Name == name {
			return i
		}
	}
	return -1
}

// lookupField finds a member in a JSON object as encoding/json decodes it: the
// exact name first, then any case.
func lookupField(obj map[string]json.RawMessage, field string) (json.RawMessage, bool) {
	if v, ok := obj[field]; ok {
		return v, true
	}
	for k, v := range obj {
		if strings.EqualFold(k, field) {
			return v, true
		}
	}
	return nil, false
}

func isNull(v json.RawMessage) bool { return bytes.Equal(bytes.TrimSpace(v), []byte("null")) }

// defaultKey is the key a generated client routes a call of m by when no route-key
// directive sets one (or a null lies on its path): the JSON of the first argument as
// the client's encoder writes it, exactly for a string, a number and a boolean, and
// for anything else the JSON given, compacted, which the Go client's matches only when
// it is written as encoding/json writes it; the method's name when it takes none.
func (ts typeSet) defaultKey(m rpc.MethodDesc, args []json.RawMessage) (string, error) {
	if len(args) == 0 || len(m.Params) == 0 {
		return m.Name, nil
	}
	v := bytes.TrimSpace(args[0])
	kind := ts.basicKind(m.Params[0].Type)
	if isNull(v) || m.Params[0].Variadic {
		kind = "" // the JSON given, compacted
	}
	if kind == "string" {
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return "", fmt.Errorf("the route key: %w", err)
		}
		b, err := json.Marshal(s)
		return string(b), err
	}
	return numberKey(kind, v)
}
