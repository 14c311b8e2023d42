package jsonstr

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// std is what encoding/json writes for s, escaping HTML or not, without the newline.
func std(t testing.TB, s string, html bool) []byte {
	var b bytes.Buffer
	e := json.NewEncoder(&b)
	e.SetEscapeHTML(html)
	if err := e.Encode(s); err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

func check(t *testing.T, s string) {
	t.Helper()
	if got, want := Append(nil, s), std(t, s, false); !bytes.Equal(got, want) {
		t.Errorf("Append(%q) = %s, encoding/json writes %s", s, got, want)
	}
	if got, want := AppendHTML(nil, s), std(t, s, true); !bytes.Equal(got, want) {
		t.Errorf("AppendHTML(%q) = %s, encoding/json writes %s", s, got, want)
	}
	if got, want := AppendQuotedHTML([]byte("x"), s), append([]byte("x"), std(t, string(std(t, s, true)), false)...); !bytes.Equal(got, want) {
		t.Errorf("AppendQuotedHTML(%q) = %s, encoding/json writes %s for its JSON string", s, got[1:], want[1:])
	}
}

func TestAppend(t *testing.T) {
	for _, s := range []string{
		"", "a", "plain text longer than eight bytes", "\x00", "\x1f", "\x7f", "\"\\",
		"<a href='x'>&amp;</a>", "é𝄞", "\xff", "\xe2\x80", "\u2028\u2029", "tab\there\nnewline\r",
	} {
		check(t, s)
	}
}

// Every byte that needs escaping or a look at its rune is found at every offset of
// strings of every length up to 24: eight bytes are read at a time, and the last
// bytes of a string as the eight that end it.
func TestAppendFindsEveryByte(t *testing.T) {
	for n := 1; n <= 24; n++ {
		for c := range 256 {
			for at := range n {
				b := []byte(strings.Repeat("x", n))
				b[at] = byte(c)
				check(t, string(b))
			}
		}
	}
}

// Two bytes that need a look are both found wherever they are, the second one too
// when the first one sits in bytes read twice.
func TestAppendFindsEveryPair(t *testing.T) {
	special := []byte{0x00, 0x1f, '"', '\\', '<', '>', '&', 0x7f, 0x80, 0xe2, 0xff, ' ', 'x'}
	for n := 2; n <= 20; n++ {
		for _, c := range special {
			for _, d := range special {
				for i := range n {
					for j := i + 1; j < n; j++ {
						b := []byte(strings.Repeat("x", n))
						b[i], b[j] = c, d
						check(t, string(b))
					}
				}
			}
		}
	}
}

func FuzzAppend(f *testing.F) {
	for _, s := range []string{"", "plain ascii text", "<&>\u2028\xff\x00\"\\", "é𝄞 mixed <b>"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) { check(t, s) })
}

func BenchmarkAppendHTML(b *testing.B) {
	s := strings.Repeat("A sentence of plain text, as most strings are. ", 4)
	buf := make([]byte, 0, 1024)
	b.SetBytes(int64(len(s)))
	for b.Loop() {
		buf = AppendHTML(buf[:0], s)
	}
}
