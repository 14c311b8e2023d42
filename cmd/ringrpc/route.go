package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/ringrpc/ringrpc/rpc"
)

// routeKey computes from the JSON arguments the key a generated client sets for m,
// from its //ringrpc:routekey directive: a string as is, anything else as its
// compact JSON. ok is false when m has no directive or a null lies on the path (a
// nil pointer): the call then routes by the default key, as a generated client's.
func routeKey(m rpc.MethodDesc, args []json.RawMessage) (key string, ok bool, err error) {
	if m.RouteKey == "" {
		return "", false, nil
	}
	path := strings.Split(m.RouteKey, ".")
	i := paramIndex(m, path[0])
	if i < 0 || i >= len(args) {
		return "", false, fmt.Errorf("method %s routes by %s, which is not among its arguments", m.Name, m.RouteKey)
	}
	v := args[i]
	for _, field := range path[1:] {
		if isNull(v) {
			return "", false, nil
		}
		var obj map[string]json.RawMessage
		if json.Unmarshal(v, &obj) != nil {
			return "", false, fmt.Errorf("method %s routes by %s: argument %d (%s) is not a JSON object", m.Name, m.RouteKey, i+1, path[0])
		}
		next, found := lookupField(obj, field)
		if !found {
			return "", false, fmt.Errorf("method %s routes by %s, but argument %d (%s) has no field %s; if its JSON name differs, pass the key with --route-key", m.Name, m.RouteKey, i+1, path[0], field)
		}
		v = next
	}
	if isNull(v) {
		return "", false, nil
	}
	var s string
	if json.Unmarshal(v, &s) == nil {
		return s, true, nil
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, v); err != nil {
		return "", false, err
	}
	return compact.String(), true, nil
}

func paramIndex(m rpc.MethodDesc, name string) int {
	for i, p := range m.Params {
		if p.Name == name {
			return i
		}
	}
	return -1
}

// lookupField finds a Go field in a JSON object as encoding/json decodes it: the
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
