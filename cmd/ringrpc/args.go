package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/ringrpc/ringrpc/rpc"
)

// splitArgs parses JSON-ARGS, a JSON array, into its elements.
func splitArgs(body []byte) ([]json.RawMessage, error) {
	var args []json.RawMessage
	if err := json.Unmarshal(body, &args); err != nil || !bytes.HasPrefix(bytes.TrimSpace(body), []byte("[")) {
		return nil, usageError{msg: fmt.Sprintf("JSON-ARGS must be a JSON array of the arguments, like '[\"a\", 1]'; got %s", body)}
	}
	return args, nil
}

// typeSet holds a service's described types by name, from its descriptor; a server of
// an older version describes none, and the types it names then pass unchecked.
type typeSet map[string]rpc.TypeDesc

func typesOf(d *rpc.ServiceDesc) typeSet {
	ts := make(typeSet, len(d.Types))
	for _, t := range d.Types {
		ts[t.Name] = t
	}
	return ts
}

// checkArgs checks the arguments against the method's parameters before anything is
// sent: their number, and the JSON of each against its Go type, through the
// structs, slices, maps and named types the descriptor describes. A struct's member
// that the type does not have is an error, although a server ignores it: here it is
// most likely a misspelling.
func (ts typeSet) checkArgs(m rpc.MethodDesc, args []json.RawMessage) error {
	if len(args) != len(m.Params) {
		return usageError{msg: fmt.Sprintf("%s takes %s, %s; got %d", m.Name, count(len(m.Params), "argument"), paramList(m), len(args))}
	}
	for i, p := range m.Params {
		t := p.Type
		if p.Variadic {
			t = "[]" + strings.TrimPrefix(t, "[]")
		}
		if err := ts.check(t, args[i]); err != nil {
			name := ""
			if p.Name != "" {
				name = " (" + p.Name + ")"
			}
			return usageError{msg: fmt.Sprintf("argument %d%s: %v", i+1, name, err)}
		}
	}
	return nil
}

func paramList(m rpc.MethodDesc) string {
	if len(m.Params) == 0 {
		return "none"
	}
	var ps []string
	for _, p := range m.Params {
		ps = append(ps, strings.TrimSpace(p.Name+" "+p.Type))
	}
	return "(" + strings.Join(ps, ", ") + ")"
}

// jsonKinds maps Go types to the JSON kind they decode from.
var jsonKinds = map[string]string{
	"string": "string", "bool": "boolean",
	"int": "integer", "int8": "integer", "int16": "integer", "int32": "integer", "int64": "integer", "rune": "integer",
	"uint": "integer", "uint8": "integer", "uint16": "integer", "uint32": "integer", "uint64": "integer", "byte": "integer", "uintptr": "integer",
	"float32": "number", "float64": "number",
	"[]byte": "string", "time.Duration": "integer", "time.Time": "string",
}

// check checks that v can decode into the Go type t. Types it cannot see into (not
// described, or with JSON methods of their own) pass: the server checks them.
func (ts typeSet) check(t string, v json.RawMessage) error {
	return ts.checkAs(t, t, v)
}

// checkAs is check, naming the type shown in messages: a named type, not the
// underlying type it is checked as.
func (ts typeSet) checkAs(t, shown string, v json.RawMessage) error {
	v = bytes.TrimSpace(v)
	got := kindOf(v)
	td, named := ts[t]
	switch {
	case got == "null":
		return nil // null leaves any Go value as it is
	case strings.HasPrefix(t, "*"):
		return ts.check(t[1:], v)
	case named && td.Custom:
		return nil
	case named && td.Type != "":
		return ts.checkAs(td.Type, t, v)
	case named:
		return ts.checkStruct(td, v, got)
	}
	if want, ok := jsonKinds[t]; ok {
		if got == want || want == "number" && got == "integer" {
			return nil
		}
		if want == "integer" && got == "number" {
			return fmt.Errorf("want an integer (%s), got %s", shown, v)
		}
		return fmt.Errorf("want %s (%s), got %s", article(want), shown, article(got))
	}
	if elem, ok := sliceElem(t); ok {
		return ts.checkElems(elem, shown, v, got)
	}
	if strings.HasPrefix(t, "map[") {
		if got != "object" {
			return fmt.Errorf("want an object (%s), got %s", shown, article(got))
		}
		return ts.checkValues(mapElem(t), v)
	}
	return nil
}

func (ts typeSet) checkElems(elem, shown string, v json.RawMessage, got string) error {
	if got != "array" {
		return fmt.Errorf("want an array (%s), got %s", shown, article(got))
	}
	var elems []json.RawMessage
	if err := json.Unmarshal(v, &elems); err != nil {
		return err
	}
	for i, e := range elems {
		if err := ts.check(elem, e); err != nil {
			return fmt.Errorf("element %d: %w", i, err)
		}
	}
	return nil
}

func (ts typeSet) checkValues(elem string, v json.RawMessage) error {
	if elem == "" {
		return nil
	}
	members, err := objectMembers(v)
	if err != nil {
		return err
	}
	for _, mb := range members {
		if err := ts.check(elem, mb.value); err != nil {
			return fmt.Errorf("key %q: %w", mb.name, err)
		}
	}
	return nil
}

// checkStruct checks an object's members against a struct's fields, matched by
// name as encoding/json matches them: exactly, or else without regard to case.
func (ts typeSet) checkStruct(td rpc.TypeDesc, v json.RawMessage, got string) error {
	if got != "object" {
		return fmt.Errorf("want an object (%s), got %s", td.Name, article(got))
	}
	members, err := objectMembers(v)
	if err != nil {
		return err
	}
	for _, mb := range members {
		f, ok := fieldByName(td.Fields, mb.name)
		if !ok {
			return fmt.Errorf("field %s: %s has no such member; its members are %s", memberName(mb.name), td.Name, memberList(td))
		}
		if err := ts.checkField(f, mb.value); err != nil {
			return fmt.Errorf("field %s: %w", memberName(mb.name), err)
		}
	}
	return nil
}

// checkField checks a member's value; with the string option the value is a JSON
// string holding the number or boolean.
func (ts typeSet) checkField(f rpc.FieldDesc, v json.RawMessage) error {
	if !f.Quoted || kindOf(bytes.TrimSpace(v)) == "null" {
		return ts.check(f.Type, v)
	}
	var inner string
	if json.Unmarshal(v, &inner) != nil {
		return fmt.Errorf("want a string holding %s (%s, with the string option), got %s", f.Type, f.Type, article(kindOf(bytes.TrimSpace(v))))
	}
	if err := ts.check(f.Type, json.RawMessage(inner)); err != nil {
		return fmt.Errorf("in the string: %w", err)
	}
	return nil
}

func fieldByName(fields []rpc.FieldDesc, name string) (rpc.FieldDesc, bool) {
	for _, f := range fields {
		if f.Name == name {
			return f, true
		}
	}
	for _, f := range fields {
		if strings.EqualFold(f.Name, name) {
			return f, true
		}
	}
	return rpc.FieldDesc{}, false
}

func memberList(td rpc.TypeDesc) string {
	if len(td.Fields) == 0 {
		return "none"
	}
	var names []string
	for _, f := range td.Fields {
		names = append(names, memberName(f.Name))
	}
	return strings.Join(names, ", ")
}

// memberName prints a member name as is when it reads as an identifier, else
// quoted, as the server's errors do.
func memberName(name string) string {
	for _, c := range name {
		if !(c == '_' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return strconv.Quote(name)
		}
	}
	if name == "" {
		return `""`
	}
	return name
}

type member struct {
	name  string
	value json.RawMessage
}

// objectMembers lists an object's members in their order.
func objectMembers(v json.RawMessage) ([]member, error) {
	dec := json.NewDecoder(bytes.NewReader(v))
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	var out []member
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		name, _ := tok.(string)
		var value json.RawMessage
		if err := dec.Decode(&value); err != nil {
			return nil, err
		}
		out = append(out, member{name, value})
	}
	return out, nil
}

// sliceElem returns the element type of []T or [N]T.
func sliceElem(t string) (string, bool) {
	if !strings.HasPrefix(t, "[") || t == "[]byte" {
		return "", false
	}
	end := strings.IndexByte(t, ']')
	if end < 0 {
		return "", false
	}
	return t[end+1:], true
}

// mapElem returns the value type of map[K]V, "" when K has brackets of its own.
func mapElem(t string) string {
	depth := 0
	for i := len("map"); i < len(t); i++ {
		switch t[i] {
		case '[':
			depth++
		case ']':
			depth--
			if depth == 0 {
				return t[i+1:]
			}
		}
	}
	return ""
}

func kindOf(v json.RawMessage) string {
	if len(v) == 0 {
		return "nothing"
	}
	switch v[0] {
	case '"':
		return "string"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	case '[':
		return "array"
	case '{':
		return "object"
	}
	if bytes.ContainsAny(v, ".eE") {
		return "number"
	}
	return "integer"
}

func article(kind string) string {
	switch kind {
	case "array", "object", "integer":
		return "an " + kind
	case "null", "nothing":
		return kind
	}
	return "a " + kind
}

// count spells n things: "1 argument", "2 arguments".
func count(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return fmt.Sprintf("%d %ss", n, thing)
}
