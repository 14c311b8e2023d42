package rpc

import (
	"bytes"
	"encoding/binary"
	stdjson "encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// decodeStrings reads body, a JSON array of n strings, with the Decoder.
func decodeStrings(body []byte, n int) ([]string, error) {
	out := make([]string, n)
	d := newDecoder(body, true)
	for i := range out {
		d.String(&out[i])
	}
	return out, d.Finish()
}

// The strings of a small body, with escapes or without, are copied into one buffer
// that they share: one allocation for all of them.
func TestStringsOfASmallBodyShareOneBuffer(t *testing.T) {
	body := []byte(`["plain","with \"quotes\" and \\ escapes","é ü 𝄞","\u00e9\n\t","` + strings.Repeat("x", 100) + `","","a"]`)
	var out []string
	allocs := testing.AllocsPerRun(100, func() {
		var err error
		if out, err = decodeStrings(body, 7); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 1+1 { // the buffer, and the slice of results
		t.Errorf("%v allocations, want 2: one buffer for all the strings, and the slice", allocs)
	}
	var want []string
	if err := stdjson.Unmarshal(body, &want); err != nil || fmt.Sprint(out) != fmt.Sprint(want) {
		t.Errorf("read %q, encoding/json %q (%v)", out, want, err)
	}
}

// A body whose strings outgrow the first buffer takes a second one for the rest of
// them, not one per string.
func TestStringsOfALargerBodyTakeTwoBuffers(t *testing.T) {
	var parts []string
	for i := range 40 {
		parts = append(parts, fmt.Sprintf(`"string %02d %s"`, i, strings.Repeat("y", 60)))
	}
	body := []byte("[" + strings.Join(parts, ",") + "]")
	if len(body) > sharedBodyMax {
		t.Fatalf("the body is %d bytes, more than %d", len(body), sharedBodyMax)
	}
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := decodeStrings(body, 40); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 2+1 {
		t.Errorf("%v allocations, want 3: two buffers for the strings, and the slice", allocs)
	}
}

// What was read from a body is not in the body: overwriting the body afterwards, as
// the transport does when it reuses it, changes none of the strings, whatever they
// held (escapes, invalid UTF-8 that grows as U+FFFD, a body too large to share).
func TestStringsDoNotAliasTheBody(t *testing.T) {
	tests := map[string]string{
		"plain":         `["a","bc","def"]`,
		"escapes":       `["a\"b","\u00e9\ud834\udd1e","\\\/\b\f\n\r\t"]`,
		"non-ASCII":     `["é","ü𝄞","Ω"]`,
		"invalid UTF-8": "[\"\xff\xfe\xfd\",\"\xff\",\"x\xffy\"]",
		"grows at end":  "[\"a\",\"b\",\"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\"]",
		"large body":    `["` + strings.Repeat("z", sharedBodyMax) + `","a\nb","c"]`,
		"empty":         `["","",""]`,
	}
	for name, body := range tests {
		t.Run(name, func(t *testing.T) {
			var want []string
			if err := stdjson.Unmarshal([]byte(body), &want); err != nil {
				t.Fatal(err)
			}
			b := []byte(body)
			got, err := decodeStrings(b, 3)
			if err != nil {
				t.Fatal(err)
			}
			for i := range b {
				b[i] = '#'
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("after the body was overwritten: %q, want %q", got, want)
			}
		})
	}
}

// Numbers read in one pass read what encoding/json reads, and fail where it fails.
func TestNumbersReadAsEncodingJSON(t *testing.T) {
	for _, tok := range []string{"0", "-0", "1", "-1", "127", "128", "-129", "4294967295", "4294967296",
		"9007199254740993", "18446744073709551615", "18446744073709551616", "-9223372036854775808",
		"-9223372036854775809", "01", "-01", "00.5", "1.5", "-1.25", "0.1", "4.75", "9876.54321", "-1234567.89",
		"1e3", "1E-3", "-0.0", "123456789012345.6", "1234567890123456.5", "0.000000000000000000000001",
		"16777217.5", "3.4028235e38", "3.5e38", "1.", ".5", "-", "1.2.3", "1e", "2.5e-400", "1e400", "1+2", "0x10",
		"00000001", "12345678", "1234567a", "1234567812345678", "12345678123456789", "9999999999999999999",
		"99999999999999999999", "-12345678901234567890", "1700000000123456789.5"} {
		checkNumber[int8](t, tok)
		checkNumber[int64](t, tok)
		checkNumber[uint32](t, tok)
		checkNumber[uint64](t, tok)
		checkNumber[float32](t, tok)
		checkNumber[float64](t, tok)
	}
}

func checkNumber[T Signed | Unsigned | Float](t *testing.T, tok string) {
	t.Helper()
	body := []byte("[" + tok + "]")
	var got, want T
	d := newDecoder(body, true)
	switch p := any(&got).(type) {
	case *int8:
		DecodeInt(&d, p)
	case *int64:
		DecodeInt(&d, p)
	case *uint32:
		DecodeUint(&d, p)
	case *uint64:
		DecodeUint(&d, p)
	case *float32:
		DecodeFloat(&d, p)
	case *float64:
		DecodeFloat(&d, p)
	}
	err := d.Finish()
	stdErr := stdDecodeArray(body, &want)
	if (err == nil) != (stdErr == nil) {
		t.Errorf("%s into %T: read with %v, encoding/json with %v", tok, got, err, stdErr)
		return
	}
	if err == nil && fmt.Sprintf("%#v", got) != fmt.Sprintf("%#v", want) || fmt.Sprint(1/float64(got) > 0) != fmt.Sprint(1/float64(want) > 0) {
		t.Errorf("%s into %T: read %#v, encoding/json %#v", tok, got, got, want)
	}
}

// The word-at-a-time scans find the first byte they look for wherever it is, with
// any byte before or after it, as a byte-at-a-time loop finds it.
func TestScansFindTheFirstByte(t *testing.T) {
	plain := func(c byte) bool { return c >= 0x20 && c < 0x80 && c != '"' && c != '\\' }
	other := func(c byte) bool { return c != '"' && c != '\\' }
	for c := range 256 {
		for _, after := range []byte{'a', 0, 0x1f, '"', '\\', 0x7f, 0x80, 0xff, 0x21, 0x23, 0x5b, 0x5d} {
			for n := 1; n <= 20; n++ {
				for at := 0; at < n; at++ {
					b := []byte(strings.Repeat("a", at) + string([]byte{byte(c)}) + strings.Repeat(string([]byte{after}), n-at-1))
					for from := 0; from <= at; from++ {
						if got, want := plainRun(b, from), firstFrom(b, from, plain); got != want {
							t.Fatalf("plainRun(%q, %d) = %d, want %d", b, from, got, want)
						}
						if got, want := quoteOrBackslash(b, from), firstFrom(b, from, other); got != want {
							t.Fatalf("quoteOrBackslash(%q, %d) = %d, want %d", b, from, got, want)
						}
					}
				}
			}
		}
	}
}

// firstFrom is the offset of the first byte from i on for which ok is false, or len(b).
func firstFrom(b []byte, i int, ok func(byte) bool) int {
	for ; i < len(b) && ok(b[i]); i++ {
	}
	return i
}

// Eight digits at once read what they hold, and nothing that is not eight digits.
func TestEightDigits(t *testing.T) {
	for _, s := range []string{"00000000", "12345678", "99999999", "1234567/", "1234567:", "a2345678", "1234 678", "\xb1\xb2\xb3\xb4\xb5\xb6\xb7\xb8", "12345678"} {
		v, ok := eightDigits(binary.LittleEndian.Uint64([]byte(s)))
		var want uint64
		wantOK := true
		for _, c := range []byte(s) {
			if c < '0' || c > '9' {
				wantOK = false
			}
			want = want*10 + uint64(c-'0')
		}
		if ok != wantOK || ok && v != want {
			t.Errorf("eightDigits(%q) = %d, %v; want %d, %v", s, v, ok, want, wantOK)
		}
	}
}

// Member names fold as encoding/json folds them: a name matches a field's when
// bytes.EqualFold says so (each rune's whole SimpleFold orbit, and nothing else), for
// every rune against its orbit and its upper, lower and title cases.
func TestFoldIsEncodingJSONs(t *testing.T) {
	for r := rune(0); r <= unicode.MaxRune; r++ {
		if !utf8.ValidRune(r) {
			continue
		}
		cands := []rune{unicode.ToUpper(r), unicode.ToLower(r), unicode.ToTitle(r)}
		for s := unicode.SimpleFold(r); s != r; s = unicode.SimpleFold(s) {
			cands = append(cands, s)
		}
		k := []byte("x" + string(r))
		for _, c := range cands {
			name := "X" + string(c)
			got := foldField(k, []string{name}) == 0
			if want := bytes.EqualFold(k, []byte(name)); got != want {
				t.Fatalf("%q against the field %q: matched %v, encoding/json %v", k, name, got, want)
			}
		}
	}
}

// A member name matches a field's tagged name without regard to case exactly when
// encoding/json's does.
func TestMemberFoldsAsEncodingJSON(t *testing.T) {
	for _, tc := range []struct{ field, member string }{
		{"id", "ıd"}, {"id", "ID"}, {"id", "İD"}, {"Å", "å"}, {"Å", "Å"}, {"Ω", "ω"}, {"Ω", "Ω"},
		{"ß", "ẞ"}, {"k", "K"}, {"s", "ſ"}, {"σ", "ς"}, {"ǅ", "ǆ"}, {"θ", "ϑ"},
	} {
		typ := reflect.StructOf([]reflect.StructField{{Name: "F", Type: reflect.TypeFor[int](), Tag: reflect.StructTag(`json:"` + tc.field + `"`)}})
		v := reflect.New(typ)
		if err := stdjson.Unmarshal([]byte(`{"`+tc.member+`":1}`), v.Interface()); err != nil {
			t.Fatal(err)
		}
		want := v.Elem().Field(0).Int() == 1
		r := JSONReader{data: []byte(`{"` + tc.member + `":1}`)}
		r.Object()
		f, ok := r.Member(0, []string{tc.field}, -1)
		if got := ok && f == 0; got != want {
			t.Errorf("%q against the field %q: matched %v, encoding/json %v", tc.member, tc.field, got, want)
		}
	}
}

// nested is a recursive slice type, read as generated code reads one.
type nested []nested

func readNested(r *JSONReader, v *nested) {
	if r.Null() {
		*v = nil
		return
	}
	if !r.Array() {
		return
	}
	s := (*v)[:0]
	if n := r.Len(); cap(s) < n {
		s = make(nested, 0, n)
	}
	for i := 0; r.Elem(i); i++ {
		s = append(s, nil)
		readNested(r, &s[i])
	}
	*v = s
}

// nestedBody is depth arrays, each inside the one before, around wide bytes of white
// space: [[[...[   ]...]]].
func nestedBody(depth, wide int) []byte {
	return []byte(strings.Repeat("[", depth) + strings.Repeat(" ", wide) + strings.Repeat("]", depth))
}

// Len reads ahead over the elements it counts, and an array inside an array is
// counted again: what it reads over a body is bounded by a multiple of the body's
// length, so that twice the nesting costs twice the work, not four times.
func TestLenReadsAheadLinearly(t *testing.T) {
	ahead := func(body []byte) int {
		r := JSONReader{data: body}
		var v nested
		readNested(&r, &v)
		if r.err != nil {
			t.Fatal(r.err)
		}
		return r.counted
	}
	for _, wide := range []int{0, 64 << 10} {
		a, b := nestedBody(2000, wide), nestedBody(4000, wide)
		na, nb := ahead(a), ahead(b)
		t.Logf("%d bytes: Len read %d; %d bytes: %d", len(a), na, len(b), nb)
		if nb > lenBudget*len(b) || float64(nb) > 2.5*float64(na) {
			t.Errorf("Len read %d bytes of a %d-byte body, and %d of a %d-byte one nested twice as deep", na, len(a), nb, len(b))
		}
	}
	// The common case is counted whole: one allocation of the right size.
	body := []byte(`[[1,2,3],[[4],[5,6]],[],"s",{"a":[7,8]}]`)
	r := JSONReader{data: body}
	if !r.Array() || r.Len() != 5 {
		t.Fatalf("Len of %s is not 5", body)
	}
}
