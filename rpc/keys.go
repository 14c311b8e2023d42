package rpc

import (
	"strconv"
)

// KeyInt formats an integer route key; generated code calls it for route-key
// parameters of integer types.
func KeyInt(v int64) string { return strconv.FormatInt(v, 10) }

// KeyUint formats an unsigned integer route key.
func KeyUint(v uint64) string { return strconv.FormatUint(v, 10) }

// KeyJSON formats any other route key as its JSON, or returns "" when v cannot be
// encoded (a panic included); the argument itself then fails to encode with the reason.
func KeyJSON(v any) string {
	b, err := marshal(v)
	if err != nil {
		return ""
	}
	return string(b)
}
