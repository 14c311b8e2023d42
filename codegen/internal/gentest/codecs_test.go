package gentest

import (
	"bytes"
	"encoding/json"
	"math"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ringrpc/ringrpc/rpc"
)

// richFrom fills a Rich, and what it points to, from fuzzed values.
func richFrom(s1, s2 string, i int64, u uint64, f float64, b bool, bs []byte) Rich {
	q := int32(i)
	r := Rich{
		Name: s1, Alias: s2, Count: int(i), Small: int8(i), Big: u, Ratio: f, Ratio32: float32(f),
		OK: b, Quoted: s2, Skip: s1, Dash: s2, Blob: bs, Tags: []string{s1, s2},
		Grid: [2][2]int16{{int16(i), 1}, {2, int16(u)}}, Scores: map[string]float64{s1: f, s2: -f},
		ByID: map[int32]string{int32(i): s1, 10: s2, 9: s1}, ByU: map[uint16]bool{uint16(u): b},
		Items: []*Item{{ID: i, Label: s1, Code: s2}, nil}, Level: Level(u), When: time.Unix(i%1e10, 0).UTC(),
		Extra: s1, Opaque: Opaque{Visible: s2}, Named: Names{UserName(s1)}, Shadow: s2,
		Inner: Inner{InnerA: s1, Count: 7, Both: s2},
	}
	for _, c := range bs {
		r.Octets = append(r.Octets, Octet(c))
	}
	r.Size, r.Omega, r.Cells = s2, int(i), [2]Item{{ID: i}, {Label: s2}}
	if b {
		r.Num = json.Number(strconv.FormatInt(i, 10))
		r.NumQ = json.Number(strconv.FormatUint(u, 10))
		qp := &q
		r.PP = &qp
		r.QPtr = &q
		r.Base = &Base{BaseID: 3, Both: s1, Deep: uint16(u)}
		r.Next = &Rich{Name: s2, Tags: []string{}}
		r.Kids = []Rich{{Name: s1, Kids: []Rich{}}}
	}
	return r
}

func seedsEncode(f *testing.F) {
	f.Add("plain", "<b>&\u2028 \"q\" \\", int64(-1), uint64(math.MaxUint64), 1.5, true, []byte("x"))
	f.Add("", "\xff\x00\n\t", int64(math.MinInt64), uint64(0), 1e-7, false, []byte(nil))
	f.Add("𝄞é", "", int64(1e15), uint64(300), 1e21, true, []byte{})
	f.Add("a", "b", int64(0), uint64(1), math.Inf(1), false, []byte{0})
}

// FuzzGeneratedEncode writes random values with the generated encoder and with
// encoding/json: the bytes are the same, and so is whether it fails.
func FuzzGeneratedEncode(f *testing.F) {
	seedsEncode(f)
	f.Fuzz(func(t *testing.T, s1, s2 string, i int64, u uint64, fl float64, b bool, bs []byte) {
		v := richFrom(s1, s2, i, u, fl, b, bs)
		got, err := rpc.AppendJSON(nil, &v, codecsEncodeRich)
		want, stdErr := json.Marshal(&v)
		if (err == nil) != (stdErr == nil) {
			t.Fatalf("generated: %v; encoding/json: %v", err, stdErr)
		}
		if err == nil && !bytes.Equal(got, want) {
			t.Fatalf("generated:\n%s\nencoding/json:\n%s", got, want)
		}
	})
}

// FuzzGeneratedDecode reads random JSON with the generated decoder and with
// encoding/json: both accept it or both reject it, and what they read is the same.
func FuzzGeneratedDecode(f *testing.F) {
	for _, s := range []string{
		`{"NAME":"x","alias":"y","COUNT":3,"unknown":[1,{"a":null}],"big":"18446744073709551615","ok":"true","quoted":"\"q\"","qptr":"-5"}`,
		`{"name":null,"tags":null,"scores":{"a":1,"a":2},"by_id":{"-1":"x","+2":"y"},"by_u":{"7":true},"grid":[[1],[2,3,4]]}`,
		`{"next":{"next":{"name":"deep"}},"items":[{"id":1},null,{"ID":2,"label":"l"}],"inner_a":"i","base_id":4,"deep":5,"Both":"b"}`,
		`{"blob":"AAEC","when":"2024-01-02T03:04:05Z","extra":{"k":[1,"2",true]},"opaque":{"Visible":"v"},"named":["a","b"]}`,
		`{"ok":"tru","big":"01","qptr":null,"quoted":"null","level":256}`,
		`{"ratio":1e400}`, `{"small":128}`, `{"blob":[1,2,300]}`, `{"tags":["a",]}`, `{"a":1,}`, `{"\u006eame":"esc","na\u006De":1}`,
		`[]`, `null`, ` {} `, `{"name":"x"} x`,
		`{"octets":"AQI=","num":12.5}`, `{"octets":[1,2],"num":"1e5"}`, `{"num":"abc"}`, `{"num":true}`, `{"octets":[256]}`,
		`{"numq":"12"}`, `{"numq":12}`, `{"numq":"\"12\""}`, `{"numq":"x"}`, `{"numq":null}`, `{"numq":"null"}`,
		`{"GRÖSSE":"x","ωMEGA":1}`, `{"größe":"y","ΩMEGA":2,"ıd":3}`, `{"cells":[{"id":1},{"id":2,"label":"x"}]}`,
		`{"cells":[{"id":1}]}`, `{"cells":[{},{},{"id":3}]}`, `{"pp":5}`, `{"pp":null}`, `{"pp":"5"}`,
	} {
		f.Add([]byte(s))
	}
	for _, s := range repeatedSliceMembers {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var got, want Rich
		err := rpc.ReadJSON(data, &got, codecsDecodeRich)
		stdErr := json.Unmarshal(data, &want)
		if (err == nil) != (stdErr == nil) {
			t.Fatalf("%s\ngenerated: %v\nencoding/json: %v", data, err, stdErr)
		}
		if err == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("%s\ngenerated:     %#v\nencoding/json: %#v", data, got, want)
		}
	})
}

// repeatedSliceMembers give a slice member more than once: encoding/json decodes the
// later arrays into the elements the earlier ones left between the slice's length and
// its capacity, and keeps them when the slice grows.
var repeatedSliceMembers = []string{
	`{"items":[{"id":1},{"id":7}],"items":[{}],"items":[{},{},{}]}`,
	`{"items":[{"id":1},{"id":7}],"items":[{}],"items":[{},{}]}`,
	`{"items":[{"id":1},{"id":7}],"items":[],"items":[{},{}]}`,
	`{"items":[{"id":1},{"id":7}],"items":null,"items":[{},{}]}`,
	`{"kids":[{"name":"a"},{"name":"b","count":2}],"kids":[{}],"kids":[{},{},{}]}`,
	`{"next":{"kids":[{"name":"a"},{"name":"b"}]},"next":{"kids":[{}]},"next":{"kids":[{},{},{}]}}`,
	`{"kids":[{"items":[{"id":1},{"id":2}]}],"kids":[{"items":[{}]}],"kids":[{"items":[{},{},{}]}]}`,
	`{"kids":[{"kids":[{"name":"x"},{"name":"y"}]},{}],"kids":[{"kids":[]}],"kids":[{"kids":[{},{},{}]},{}]}`,
	`{"grid":[[1,2],[3,4]],"grid":[[5]],"cells":[{"id":1},{"id":2}],"cells":[{"label":"l"}]}`,
	`{"tags":["a","b"],"tags":["c"],"tags":["","",""],"named":["a","b"],"named":[],"named":["",""]}`,
	`{"octets":"AQI=","octets":null}`,
	`{"octets":"AQI=","octets":"Aw=="}`,
}

// A member given twice is read twice as encoding/json reads it: a slice is refilled
// from its first element, into the elements an earlier array left past its length.
func TestGeneratedRepeatedSliceMember(t *testing.T) {
	for _, in := range repeatedSliceMembers {
		var got, want Rich
		err := rpc.ReadJSON([]byte(in), &got, codecsDecodeRich)
		if stdErr := json.Unmarshal([]byte(in), &want); err != nil || stdErr != nil {
			t.Fatalf("%s\ngenerated: %v\nencoding/json: %v", in, err, stdErr)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s\ngenerated:     %s\nencoding/json: %s", in, mustJSON(t, got), mustJSON(t, want))
		}
	}
}

func mustJSON(t *testing.T, v Rich) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A string field with the string option costs the encoder no allocation.
func TestGeneratedQuotedStringAllocatesNothing(t *testing.T) {
	for _, code := range []string{"", "hello", "<\"q\">\n", strings.Repeat("x", 10000), strings.Repeat("<\"", 20000)} {
		v := Item{ID: 1, Label: "l", Code: code}
		// A buffer that just holds the output: the string needs no room beyond its own.
		out, err := rpc.AppendJSON(nil, &v, codecsEncodeItem)
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, len(out))
		allocs := testing.AllocsPerRun(100, func() {
			if _, err := rpc.AppendJSON(buf[:0:len(out)], &v, codecsEncodeItem); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("a %d-byte string with the string option: %v allocations", len(code), allocs)
		}
	}
}

// kidsBody is depth levels of Rich, each the only kid of the one before, the innermost
// named with wide bytes.
func kidsBody(depth, wide int) []byte {
	return []byte(strings.Repeat(`{"kids":[`, depth) + `{"name":"` + strings.Repeat("a", wide) + `"}` + strings.Repeat(`]}`, depth))
}

// Reading a deeply nested slice costs what encoding/json's reading costs, give or
// take, not the square of the depth: counting a slice's elements ahead of reading
// them must not read the rest of the body again at every level. Each is timed at its
// best of a few runs; the bound is loose, as the quadratic reading took fifty times
// encoding/json's.
func TestGeneratedDecodeDeepSliceLinear(t *testing.T) {
	body := kidsBody(2000, 256<<10)
	best := func(read func() error) time.Duration {
		var least time.Duration
		for i := range 3 {
			start := time.Now()
			if err := read(); err != nil {
				t.Fatal(err)
			}
			if d := time.Since(start); i == 0 || d < least {
				least = d
			}
		}
		return least
	}
	gen := best(func() error { var v Rich; return rpc.ReadJSON(body, &v, codecsDecodeRich) })
	std := best(func() error { var v Rich; return json.Unmarshal(body, &v) })
	t.Logf("%d bytes: generated %v, encoding/json %v", len(body), gen, std)
	if gen > 3*std {
		t.Errorf("the generated decoder took %v for %d bytes nested 2000 deep, encoding/json %v", gen, len(body), std)
	}
}

// A value that refers to itself fails to encode with encoding/json's error, instead of
// recursing until the stack overflows; a deep value that does not is written whole.
func TestGeneratedEncodeCycle(t *testing.T) {
	var cyclic Rich
	cyclic.Next = &cyclic
	loop := Rich{Items: []*Item{{ID: 1}}}
	loop.Next = &Rich{Next: &loop}
	deep := &Rich{Name: "bottom"}
	for range 1500 {
		deep = &Rich{Next: deep}
	}
	for _, tc := range []struct {
		name string
		v    *Rich
	}{
		{"itself", &cyclic},
		{"through another", &loop},
		{"deep, no cycle", deep},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := rpc.AppendJSON(nil, tc.v, codecsEncodeRich)
			want, stdErr := json.Marshal(tc.v)
			if (err == nil) != (stdErr == nil) || err != nil && !strings.Contains(err.Error(), stdErr.Error()) {
				t.Fatalf("generated: %v; encoding/json: %v", err, stdErr)
			}
			if err == nil && !bytes.Equal(got, want) {
				t.Fatalf("generated %d bytes, encoding/json %d", len(got), len(want))
			}
		})
	}
}

// json.Number is written and read as encoding/json does: a number, 0 when empty, an
// error when it is not a number.
func TestGeneratedNumber(t *testing.T) {
	for _, n := range []json.Number{"", "12.5", "-1e5", "abc", "1.", "0x10"} {
		v := Rich{Num: n}
		got, err := rpc.AppendJSON(nil, &v, codecsEncodeRich)
		want, stdErr := json.Marshal(&v)
		if (err == nil) != (stdErr == nil) || err == nil && !bytes.Equal(got, want) {
			t.Errorf("%q: generated %s, %v; encoding/json %s, %v", n, got, err, want, stdErr)
		}
	}
}

// Member names match without regard to case as encoding/json matches them: "ı" does
// not match "i", while "å" matches "Å" and "ω" "Ω".
func TestGeneratedFolding(t *testing.T) {
	for _, in := range []string{`{"ıd":1}`, `{"ID":2}`, `{"İD":2}`, `{"å":"x"}`, `{"Å":"y"}`, `{"ω":"z"}`, `{"ẞ":"?"}`} {
		var got, want Folded
		err := rpc.ReadJSON([]byte(in), &got, codecsDecodeFolded)
		stdErr := json.Unmarshal([]byte(in), &want)
		if (err == nil) != (stdErr == nil) || got != want {
			t.Errorf("%s:\ngenerated:     %+v (%v)\nencoding/json: %+v (%v)", in, got, err, want, stdErr)
		}
	}
}

// A json.Number with the string option is written in quotes, "0" when empty, as
// encoding/json writes it.
func TestGeneratedNumberStringOption(t *testing.T) {
	for _, n := range []json.Number{"12", "", "-2.5e10", "abc"} {
		for _, v := range []StringOpt{{Num: n}, {PNum: &n}} {
			got, err := rpc.AppendJSON(nil, &v, codecsEncodeStringOpt)
			want, stdErr := json.Marshal(&v)
			if (err == nil) != (stdErr == nil) || err == nil && !bytes.Equal(got, want) {
				t.Errorf("%q:\ngenerated:     %s (%v)\nencoding/json: %s (%v)", n, got, err, want, stdErr)
			}
		}
	}
}

// A json.Number with the string option is read from inside the string as
// encoding/json reads it: a number as it is, a string holding a valid number, null.
func TestGeneratedNumberStringOptionDecode(t *testing.T) {
	for _, in := range []string{
		`{"num":"12"}`, `{"num":"\"12\""}`, `{"num":"-1.5e3"}`, `{"num":"12abc"}`, `{"num":"\"abc\""}`,
		`{"num":"abc"}`, `{"num":"null"}`, `{"num":null}`, `{"num":"true"}`, `{"num":""}`, `{"num":12}`,
		`{"num":" 12"}`, `{"num":"\"12"}`, `{"pnum":"7"}`, `{"pnum":"null"}`, `{"pnum":null}`, `{"pnum":"\"8\""}`,
		`{"pnum":"x"}`, `{"pnum":"nul"}`,
	} {
		var got, want StringOpt
		err := rpc.ReadJSON([]byte(in), &got, codecsDecodeStringOpt)
		stdErr := json.Unmarshal([]byte(in), &want)
		if (err == nil) != (stdErr == nil) || err == nil && !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\ngenerated:     %+v (%v)\nencoding/json: %+v (%v)", in, got, err, want, stdErr)
		}
	}
}

// Types that marshal or unmarshal themselves, in fields with the string option, are
// written and read as encoding/json writes and reads them: UnmarshalJSON gets the
// string's contents, UnmarshalText the contents of a string inside the string, and a
// type that only reads itself is written in quotes.
func TestGeneratedCustomStringOption(t *testing.T) {
	lj := LenJSON(3)
	for _, v := range []StringOpt{{C: 5, T: "up", In: 7, Text: "ab\"c"}, {PC: &lj}} {
		got, err := rpc.AppendJSON(nil, &v, codecsEncodeStringOpt)
		want, stdErr := json.Marshal(&v)
		if (err == nil) != (stdErr == nil) || err == nil && !bytes.Equal(got, want) {
			t.Errorf("%+v:\ngenerated:     %s (%v)\nencoding/json: %s (%v)", v, got, err, want, stdErr)
		}
	}
	for _, in := range []string{
		`{"c":"abc"}`, `{"c":""}`, `{"c":"null"}`, `{"c":null}`, `{"c":"\"x\""}`, `{"c":"{"}`, `{"c":1}`,
		`{"pc":"abcd"}`, `{"pc":"null"}`, `{"pc":null}`, `{"pc":"nul"}`,
		`{"t":"\"low\""}`, `{"t":"low"}`, `{"t":"null"}`, `{"t":null}`, `{"t":"\"bad"}`,
		`{"in":"12345"}`, `{"in":"x"}`, `{"in":null}`, `{"text":"\"abc\""}`, `{"text":"abc"}`, `{"text":null}`,
	} {
		var got, want StringOpt
		err := rpc.ReadJSON([]byte(in), &got, codecsDecodeStringOpt)
		stdErr := json.Unmarshal([]byte(in), &want)
		if (err == nil) != (stdErr == nil) || err == nil && !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\ngenerated:     %+v (%v)\nencoding/json: %+v (%v)", in, got, err, want, stdErr)
		}
	}
}

// A value handed to go-json that go-json refuses to read is read by encoding/json: the
// largest float32, which both write as 3.4028235e+38, round-trips.
func TestGeneratedGoJSONRoundTrip(t *testing.T) {
	for _, f := range []float32{math.MaxFloat32, -math.MaxFloat32, math.SmallestNonzeroFloat32, 1.5} {
		v := Holder{O: Opaque32{F: f}}
		b, err := rpc.AppendJSON(nil, &v, codecsEncodeHolder)
		if err != nil {
			t.Fatal(err)
		}
		var got, want Holder
		if err := json.Unmarshal(b, &want); err != nil {
			t.Fatalf("encoding/json cannot read %s: %v", b, err)
		}
		if err := rpc.ReadJSON(b, &got, codecsDecodeHolder); err != nil || got != want {
			t.Errorf("%s: read %+v, %v; encoding/json reads %+v", b, got, err, want)
		}
	}
	// What both refuse is still an error.
	var h Holder
	if err := rpc.ReadJSON([]byte(`{"O":{"F":1e39}}`), &h, codecsDecodeHolder); err == nil {
		t.Error("1e39 read into a float32")
	}
}
