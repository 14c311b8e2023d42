package grpcpeer

import (
	"errors"
	"math"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
)

// The helpers below write proto3 fields, leaving out zero values as proto3 does.

func sizeString(num protowire.Number, s string) int {
	if s == "" {
		return 0
	}
	return protowire.SizeTag(num) + protowire.SizeBytes(len(s))
}

func appendString(b []byte, num protowire.Number, s string) []byte {
	if s == "" {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}

func sizeStrings(num protowire.Number, ss []string) int {
	n := 0
	for _, s := range ss {
		n += protowire.SizeTag(num) + protowire.SizeBytes(len(s))
	}
	return n
}

func appendStrings(b []byte, num protowire.Number, ss []string) []byte {
	for _, s := range ss {
		b = protowire.AppendTag(b, num, protowire.BytesType)
		b = protowire.AppendString(b, s)
	}
	return b
}

func sizeVarint(num protowire.Number, v uint64) int {
	if v == 0 {
		return 0
	}
	return protowire.SizeTag(num) + protowire.SizeVarint(v)
}

func appendVarint(b []byte, num protowire.Number, v uint64) []byte {
	if v == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

func sizeDouble(num protowire.Number, v float64) int {
	if math.Float64bits(v) == 0 {
		return 0
	}
	return protowire.SizeTag(num) + protowire.SizeFixed64()
}

func appendDouble(b []byte, num protowire.Number, v float64) []byte {
	if math.Float64bits(v) == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.Fixed64Type)
	return protowire.AppendFixed64(b, math.Float64bits(v))
}

func sizeFloat(num protowire.Number, v float32) int {
	if math.Float32bits(v) == 0 {
		return 0
	}
	return protowire.SizeTag(num) + protowire.SizeFixed32()
}

func appendFloat(b []byte, num protowire.Number, v float32) []byte {
	if math.Float32bits(v) == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.Fixed32Type)
	return protowire.AppendFixed32(b, math.Float32bits(v))
}

func boolToVarint(v bool) uint64 {
	if v {
		return 1
	}
	return 0
}

var errInvalidUTF8 = errors.New("proto: string field contains invalid UTF-8")

// reader walks the fields of an encoded message. A field whose wire type does not
// match its declaration is skipped, as protobuf skips unknown fields.
type reader struct {
	b   []byte
	typ protowire.Type
	err error
}

// next reads the next tag; it returns false at the end or on an error.
func (r *reader) next() (protowire.Number, bool) {
	if r.err != nil || len(r.b) == 0 {
		return 0, false
	}
	num, typ, n := protowire.ConsumeTag(r.b)
	if !r.advance(n) {
		return 0, false
	}
	r.typ = typ
	return num, true
}

func (r *reader) advance(n int) bool {
	if n < 0 {
		r.err = protowire.ParseError(n)
		return false
	}
	r.b = r.b[n:]
	return true
}

// skip passes over the current field's value.
func (r *reader) skip() {
	r.advance(protowire.ConsumeFieldValue(0, r.typ, r.b))
}

func (r *reader) want(typ protowire.Type) bool {
	if r.typ != typ {
		r.skip()
		return false
	}
	return true
}

func (r *reader) string(dst *string) {
	if !r.want(protowire.BytesType) {
		return
	}
	v, n := protowire.ConsumeBytes(r.b)
	if !r.advance(n) {
		return
	}
	if !utf8.Valid(v) {
		r.err = errInvalidUTF8
		return
	}
	*dst = string(v)
}

func (r *reader) repeatedString(dst *[]string) {
	var s string
	if r.want(protowire.BytesType) {
		r.string(&s)
		if r.err == nil {
			*dst = append(*dst, s)
		}
	}
}

func (r *reader) varint() (uint64, bool) {
	if !r.want(protowire.VarintType) {
		return 0, false
	}
	v, n := protowire.ConsumeVarint(r.b)
	return v, r.advance(n)
}

func (r *reader) double(dst *float64) {
	if !r.want(protowire.Fixed64Type) {
		return
	}
	v, n := protowire.ConsumeFixed64(r.b)
	if r.advance(n) {
		*dst = math.Float64frombits(v)
	}
}

func (r *reader) float(dst *float32) {
	if !r.want(protowire.Fixed32Type) {
		return
	}
	v, n := protowire.ConsumeFixed32(r.b)
	if r.advance(n) {
		*dst = math.Float32frombits(v)
	}
}
