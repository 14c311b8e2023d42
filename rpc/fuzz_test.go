package rpc

import (
	stdjson "encoding/json"
	"testing"
)

// FuzzDecoder feeds arbitrary bodies to the argument decoder: it must never panic, and
// where it accepts a string, an integer or a float, encoding/json must agree.
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

		var std []stdjson.RawMessage
		stdErr := stdjson.Unmarshal(body, &std)
		if err != nil {
			return
		}
		if stdErr != nil || len(std) != 3 {
			t.Fatalf("accepted %q that encoding/json rejects: %v", body, stdErr)
		}
		var s2 string
		var i2 int64
		var f2 float64
		if stdjson.Unmarshal(std[0], &s2) != nil || stdjson.Unmarshal(std[1], &i2) != nil || stdjson.Unmarshal(std[2], &f2) != nil {
			t.Fatalf("accepted %q whose values encoding/json rejects", body)
		}
		if s != s2 || i != i2 || fl != f2 {
			t.Fatalf("%q: got %q %d %v, encoding/json %q %d %v", body, s, i, fl, s2, i2, f2)
		}
	})
}
