package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/ringrpc/ringrpc/rpc"
)

// splitArgs parses JSON-ARGS, a JSON array, into its elements.
func splitArgs(body []byte) ([]json.RawMessage, error) {
	var args []json.RawMessage
	if err := json.Unmarshal(body, &args); err != nil || !bytes.HasPrefix(bytes.TrimSpace(body), []byte("[")) {
		return nil, usageError{fmt.Sprintf("JSON-ARGS must be a JSON array of the arguments, like '[\"a\", 1]'; got %s", body)}
	}
	return args, nil
}

// checkArgs checks the arguments against the method's parameters before anything is
// sent: their number, and the JSON type of every argument whose Go type the
// descriptor spells in full (basic types, slices, arrays, maps, pointers to them).
func checkArgs(m rpc.MethodDesc, args []json.RawMessage) error {
	if len(args) != len(m.Params) {
		return usageError{fmt.Sprintf("%s takes %d arguments, %s; got %d", m.Name, len(m.Params), paramList(m), len(args))}
	}
	for i, p := range m.Params {
		t := p.Type
		if p.Variadic {
			t = "[]" + strings.TrimPrefix(t, "[]")
		}
		if err := checkJSON(t, args[i]); err != nil {
			name := ""
			if p.Name != "" {
				name = " (" + p.Name + ")"
			}
			return usageError{fmt.Sprintf("argument %d%s: %v", i+1, name, err)}
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

// checkJSON checks that v can decode into the Go type t. Types it cannot see into
// (named types of the service's packages) pass: the server checks them.
func checkJSON(t string, v json.RawMessage) error {
	v = bytes.TrimSpace(v)
	got := kindOf(v)
	nullable := strings.HasPrefix(t, "*") || strings.HasPrefix(t, "[]") || strings.HasPrefix(t, "map[") || t == "any" || t == "interface{}"
	switch {
	case got == "null" && (nullable || jsonKinds[t] == ""):
		return nil
	case strings.HasPrefix(t, "*"):
		return checkJSON(t[1:], v)
	}
	if want, ok := jsonKinds[t]; ok {
		if got == want || want == "number" && got == "integer" {
			return nil
		}
		if want == "integer" && got == "number" {
			return fmt.Errorf("want an integer (%s), got %s", t, v)
		}
		return fmt.Errorf("want %s (%s), got %s", article(want), t, article(got))
	}
	if elem, ok := sliceElem(t); ok {
		return checkElems(elem, v, got)
	}
	if strings.HasPrefix(t, "map[") {
		if got != "object" {
			return fmt.Errorf("want an object (%s), got %s", t, article(got))
		}
		return checkValues(mapElem(t), v)
	}
	return nil
}

func checkElems(elem string, v json.RawMessage, got string) error {
	if got != "array" {
		return fmt.Errorf("want an array ([]%s), got %s", elem, article(got))
	}
	var elems []json.RawMessage
	if err := json.Unmarshal(v, &elems); err != nil {
		return err
	}
	for i, e := range elems {
		if err := checkJSON(elem, e); err != nil {
			return fmt.Errorf("element %d: %w", i, err)
		}
	}
	return nil
}

func checkValues(elem string, v json.RawMessage) error {
	if elem == "" {
		return nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(v, &obj); err != nil {
		return err
	}
	for k, e := range obj {
		if err := checkJSON(elem, e); err != nil {
			return fmt.Errorf("key %q: %w", k, err)
		}
	}
	return nil
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
