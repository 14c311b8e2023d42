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
	b.Run("encode/generated", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(body)))
		buf := make([]byte, 0, 2*len(body))
		for b.Loop() {
			buf, _ = rpc.AppendJSON(buf[:0], &p, greeterEncodePayload)
		}
	})
	b.Run("encode/go-json", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			if _, err := gojson.Marshal(&p); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decode/generated", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			var q Payload
			if err := rpc.ReadJSON(body, &q, greeterDecodePayload); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decode/go-json", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			var q Payload
			if err := gojson.Unmarshal(body, &q); err != nil {
				b.Fatal(err)
			}
		}
	})
}
