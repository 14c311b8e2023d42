package transport

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"io"
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

// FuzzReadFrame checks the connection's stream reader against ParseFrame: over any
// bytes, read with any buffer size, both accept the same frames with the same content
// and reject the same input, and the reader never panics.
func FuzzReadFrame(f *testing.F) {
	for _, g := range goldenFrames {
		b, _ := hex.DecodeString(g.hex)
		f.Add(b, uint8(0))
		f.Add(append(b, b...), uint8(3))
	}
	f.Add(rawFrame(SerializeRocketMQ, nil, make([]byte, 300)), uint8(1))
	f.Add(rawFrame(SerializeJSON, []byte(`{"code":1}`), make([]byte, 2000)), uint8(2))
	f.Add(rawFrame(SerializeRocketMQ, nil, make([]byte, 3*firstChunk+5)), uint8(4)) // read in pieces
	f.Fuzz(func(t *testing.T, b []byte, bufSize uint8) {
		const maxFrame = 1 << 20
		c := &Conn{cfg: &connConfig{maxFrame: maxFrame, frames: newByteBudget(maxFrame, "a body", "fuzzing")}}
		// Small reader buffers make headers overflow them: headers read in pieces.
		br := bufio.NewReaderSize(bytes.NewReader(b), 16+int(bufSize))
		var in interner
		rest := b
		for {
			got, charged, gotErr := c.readFrame(br, &in)
			c.cfg.frames.give(charged)
			want, n, wantErr := ParseFrame(rest, maxFrame)
			if (gotErr == nil) != (wantErr == nil) {
				t.Fatalf("readFrame error %v, ParseFrame error %v", gotErr, wantErr)
			}
			if gotErr != nil {
				if len(rest) == 0 && !errors.Is(gotErr, io.EOF) {
					t.Fatalf("at the end of input: %v, want io.EOF", gotErr)
				}
				return
			}
			if len(want.Body) == 0 {
				want.Body = nil
			}
			if len(got.Body) == 0 {
				got.Body = nil
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("readFrame and ParseFrame differ\n got %+v\nwant %+v", got, want)
			}
			rest = rest[n:]
		}
	})
}
