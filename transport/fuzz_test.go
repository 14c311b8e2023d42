package transport

import (
	"encoding/hex"
	"reflect"
	"testing"
)

// FuzzParseFrame feeds arbitrary bytes to the decoder: it must never panic, and what it
// accepts must survive a re-encode in the same serialization unchanged.
func FuzzParseFrame(f *testing.F) {
	for _, g := range goldenFrames {
		b, _ := hex.DecodeString(g.hex)
		f.Add(b)
	}
	f.Add(rawFrame(SerializeJSON, []byte(`{"code":1,"language":9,"extFields":{"a":"\u00e9"}}`), []byte("x")))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, n, err := ParseFrame(b, 1<<20)
		if err != nil {
			return
		}
		if n < 8 || n > len(b) {
			t.Fatalf("consumed %d of %d bytes", n, len(b))
		}
		again, err := AppendFrame(nil, c, c.Serialize)
		if err != nil {
			t.Fatalf("re-encode of %+v: %v", c, err)
		}
		c2, _, err := ParseFrame(again, 1<<20)
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if !reflect.DeepEqual(c, c2) {
			t.Fatalf("round trip changed the command\n got %+v\nwant %+v", c2, c)
		}
	})
}
