package greeter

import (
	"encoding/json"
	"testing"

	gojson "github.com/goccy/go-json"

	"github.com/ringrpc/ringrpc/rpc"
)

// TestPayloadCodec checks that the generated codec writes what encoding/json writes
// for the sample and reads it back whole.
func TestPayloadCodec(t *testing.T) {
	p := Sample()
	got, err := rpc.AppendJSON(nil, &p, greeterEncodePayload)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := json.Marshal(&p)
	if string(got) != string(want) {
		t.Fatalf("generated:\n%s\nencoding/json:\n%s", got, want)
	}
	var q Payload
	if err := rpc.ReadJSON(got, &q, greeterDecodePayload); err != nil || !Equal(&p, &q) {
		t.Fatalf("read back: %v, %+v", err, q)
	}
}

// BenchmarkPayload compares the generated codec of the echo payload with go-json's
// reflection on the same value and bytes.
func BenchmarkPayload(b *testing.B) {
	p := Sample()
	body, err := gojson.Marshal(&p)
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 0, 2*len(body))
	for _, c := range []struct {
		name string
		op   func() error
	}{
		{"encode/generated", func() (err error) { buf, err = rpc.AppendJSON(buf[:0], &p, greeterEncodePayload); return err }},
		{"encode/go-json", func() error { _, err := gojson.Marshal(&p); return err }},
		{"decode/generated", func() error { var q Payload; return rpc.ReadJSON(body, &q, greeterDecodePayload) }},
		{"decode/go-json", func() error { var q Payload; return gojson.Unmarshal(body, &q) }},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if err := c.op(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
