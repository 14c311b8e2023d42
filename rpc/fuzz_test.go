package rpc

import (
	"bytes"
	stdjson "encoding/json"
	"math"
	"reflect"
	"testing"
	"time"
)

// FuzzDecoder feeds arbitrary bodies to the argument decoder: it must never panic,
// accept exactly the bodies encoding/json accepts as an array of a string, an int64
// and a float64, and read the same values.
func FuzzDecoder(f *testing.F) {
	for _, s := range []string{`["a",1,2.5]`, `["\u00e9\ud834\udd1e",-0,1e3]`, `[null,null,null]`, `["\ud800",18446744073709551616,-]`, "[\"\xff\",01,.5]", `[{"a":[1,{"b":"]"}]},1,1]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var s string
		var i int64
		var fl float64
		d := newDecoder(body, true)
		d.String(&s)
		DecodeInt(&d, &i)
		DecodeFloat(&d, &fl)
		err := d.Finish()

		var s2 string
		var i2 int64
		var f2 float64
		stdErr := stdDecodeArray(body, &s2, &i2, &f2)
		if (err == nil) != (stdErr == nil) {
			t.Fatalf("%q: decoder says %v, encoding/json %v", body, err, stdErr)
		}
		if err == nil && (s != s2 || i != i2 || math.Float64bits(fl) != math.Float64bits(f2)) {
			t.Fatalf("%q: got %q %d %v, encoding/json %q %d %v", body, s, i, fl, s2, i2, f2)
		}
	})
}

// stdDecodeArray decodes body, a JSON array of arguments, into ps with encoding/json,
// as the Decoder reads arguments: values missing at the end leave theirs, values
// beyond len(ps) are checked and ignored.
func stdDecodeArray(body []byte, ps ...any) error {
	var raw []stdjson.RawMessage
	if err := stdjson.Unmarshal(body, &raw); err != nil {
		return err
	}
	for i, p := range ps[:min(len(ps), len(raw))] {
		if err := stdjson.Unmarshal(raw[i], p); err != nil {
			return err
		}
	}
	return nil
}

// FuzzDecoderValues does the same for Bool, Bytes and Value: the decoder must accept
// what encoding/json accepts, and read the same values.
func FuzzDecoderValues(f *testing.F) {
	for _, s := range []string{`[true,"AAEC",{"a":[1,"x",null,true]}]`, `[false,null,[1.5e300,-0,"\u00e9"]]`, `[null,"",null]`, `[tru,"!!",{]`, `[true,"AA==\n",{"a":1,"a":2}]`, `[1,"A",01]`, `[false,"YQ",{"k":"v"}]`, `null`, `null `} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var b bool
		var bs []byte
		var v any
		d := newDecoder(body, true)
		d.Bool(&b)
		d.Bytes(&bs)
		d.Value(&v)
		err := d.Finish()

		var b2 bool
		var bs2 []byte
		var v2 any
		stdErr := stdDecodeArray(body, &b2, &bs2, &v2)
		if (err == nil) != (stdErr == nil) {
			t.Fatalf("%q: decoder says %v, encoding/json %v", body, err, stdErr)
		}
		if err == nil && (b != b2 || !sameBytes(bs, bs2) || !reflect.DeepEqual(v, v2)) {
			t.Fatalf("%q: got %v %q %#v, encoding/json %v %q %#v", body, b, bs, v, b2, bs2, v2)
		}
	})
}

func sameBytes(a, b []byte) bool { return bytes.Equal(a, b) && (a == nil) == (b == nil) }

// FuzzEncoder writes random values with every method and checks the JSON against
// encoding/json: it parses, reads back as the same values, and has the same bytes.
func FuzzEncoder(f *testing.F) {
	f.Add("plain", true, []byte{0, 1, 2}, int64(-3), uint64(math.MaxUint64), 1.5)
	f.Add("<&> \u2028 \xff \x00 \"\\", false, []byte(nil), int64(math.MinInt64), uint64(0), 1e-7)
	f.Add("", false, []byte{}, int64(0), uint64(1), math.Inf(1))
	f.Add("𝄞é", true, []byte("\xff\xfe"), int64(1)<<53+1, uint64(1)<<63, math.Copysign(0, -1))
	f.Fuzz(func(t *testing.T, s string, b bool, bs []byte, i int64, u uint64, fl float64) {
		m := map[string]any{"s": s, "b": bs, "i": i, "f": fl}
		var e Encoder
		e.reset(nil, true)
		e.String(s)
		e.Bool(b)
		e.Bytes(bs)
		EncodeInt(&e, i)
		EncodeUint(&e, u)
		EncodeFloat(&e, fl)
		e.Value(m)
		out, err := e.finish()
		if math.IsNaN(fl) || math.IsInf(fl, 0) {
			if err == nil {
				t.Fatalf("%v encoded without an error: %s", fl, out)
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		var raw []stdjson.RawMessage
		if err := stdjson.Unmarshal(out, &raw); err != nil || len(raw) != 7 {
			t.Fatalf("encoding/json rejects %q: %v", out, err)
		}
		for k, v := range []any{s, b, bs, i, u, fl, m} {
			want, _ := stdjson.Marshal(v)
			got := raw[k]
			if !bytes.Equal(got, want) {
				t.Fatalf("value %d (%T): wrote %s, encoding/json %s", k+1, v, got, want)
			}
		}
	})
}

// stdValue reads JSON into p with encoding/json and writes it back.
func stdValue(t *testing.T, data []byte, p any) []byte {
	if err := stdjson.Unmarshal(data, p); err != nil {
		t.Fatalf("encoding/json rejects %s: %v", data, err)
	}
	b, _ := stdjson.Marshal(p)
	return b
}

// fuzzRecord has the common field kinds of a struct argument.
type fuzzRecord struct {
	S     string           `json:"s"`
	I     int64            `json:"i"`
	U     uint32           `json:"u,omitempty"`
	F     float64          `json:"f"`
	B     bool             `json:"b"`
	Bytes []byte           `json:"bytes"`
	Tags  []string         `json:"tags,omitempty"`
	M     map[string]int64 `json:"m"`
	P     *string          `json:"p"`
	Any   any              `json:"any"`
	When  time.Time        `json:"when"`
	Inner struct{ A int8 } `json:"inner"`
}

// FuzzRoundTrip encodes random arguments with the Encoder and reads them back with the
// Decoder: every value comes back as encoding/json would read it back.
func FuzzRoundTrip(f *testing.F) {
	f.Add("a", int64(1), uint32(2), 3.5, true, []byte{4}, "k")
	f.Add("\xff<&>\u2028", int64(math.MinInt64), uint32(0), math.Copysign(0, -1), false, []byte(nil), "")
	f.Add("", int64(-1), uint32(math.MaxUint32), 1e300, false, []byte{}, "\x00")
	f.Fuzz(func(t *testing.T, s string, i int64, u uint32, fl float64, b bool, bs []byte, key string) {
		in := fuzzRecord{S: s, I: i, U: u, F: fl, B: b, Bytes: bs, Tags: []string{s, key}, M: map[string]int64{key: i}, P: &key, Any: s, When: time.Unix(int64(u), int64(i%1e9)).UTC()}
		in.Inner.A = int8(i)
		var e Encoder
		e.reset(nil, true)
		e.String(s)
		EncodeInt(&e, i)
		EncodeUint(&e, u)
		EncodeFloat(&e, fl)
		e.Bool(b)
		e.Bytes(bs)
		e.Value(&in)
		body, err := e.finish()
		if math.IsNaN(fl) || math.IsInf(fl, 0) {
			if err == nil {
				t.Fatalf("%v encoded without an error", fl)
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		var out fuzzRecord
		var rec fuzzRecord
		d := newDecoder(body, true)
		d.String(&out.S)
		DecodeInt(&d, &out.I)
		DecodeUint(&d, &out.U)
		DecodeFloat(&d, &out.F)
		d.Bool(&out.B)
		d.Bytes(&out.Bytes)
		d.Value(&rec)
		if err := d.Finish(); err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		var want fuzzRecord
		stdValue(t, mustMarshal(t, in), &want)
		if !reflect.DeepEqual(rec, want) {
			t.Fatalf("%s: read back %+v, encoding/json %+v", body, rec, want)
		}
		typed := fuzzRecord{S: want.S, I: want.I, U: want.U, F: want.F, B: want.B, Bytes: want.Bytes}
		if !reflect.DeepEqual(out, typed) {
			t.Fatalf("%s: read back %+v, want %+v", body, out, typed)
		}
	})
}

func mustMarshal(t *testing.T, v any) []byte {
	b, err := stdjson.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
