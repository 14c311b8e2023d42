package transport

import (
	"strings"
	"testing"
	"unsafe"
)

func TestInterner(t *testing.T) {
	long := strings.Repeat("x", internMaxLen+1)
	tests := []struct {
		name   string
		pos    int
		first  string
		second string
		shared bool // the second result reuses the first's memory
	}{
		{"same field at the same position", 0, "interfaceName", "interfaceName", true},
		{"same value elsewhere, from the map", 20, "methodName", "methodName", true},
		{"a new value", 1, "SayHello", "SayBye", false},
		{"long values are copied, never kept", 3, long, long, false},
		{"empty", 2, "", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var in interner
			a := in.at(tc.pos, []byte(tc.first))
			b := in.at(tc.pos, []byte(tc.second))
			if a != tc.first || b != tc.second {
				t.Fatalf("got %q, %q; want %q, %q", a, b, tc.first, tc.second)
			}
			if shared := len(a) > 0 && unsafe.StringData(a) == unsafe.StringData(b); shared != tc.shared {
				t.Fatalf("shared = %v, want %v", shared, tc.shared)
			}
			for _, r := range in.recent {
				if len(r) > internMaxLen {
					t.Fatalf("kept a %d-byte string", len(r))
				}
			}
		})
	}
	var none *interner
	if s := none.at(0, []byte("copy")); s != "copy" {
		t.Fatalf("nil interner: %q", s)
	}
}

// Header fields carved from one slab never overlap, and appending to one leaves the
// next alone.
func TestInternerFieldSlab(t *testing.T) {
	var in interner
	a := in.fields([]Field{{"a", "1"}, {"b", "2"}})
	b := in.fields([]Field{{"c", "3"}})
	a = append(a, Field{"x", "y"})
	if b[0] != (Field{"c", "3"}) || a[1] != (Field{"b", "2"}) {
		t.Fatalf("fields overlap: %v %v", a, b)
	}
	for range 3 * slabFields {
		f := in.fields([]Field{{"k", "v"}, {"k2", "v2"}, {"k3", "v3"}})
		if len(f) != 3 || cap(f) != 3 || f[2].Value != "v3" {
			t.Fatalf("fields %v (cap %d)", f, cap(f))
		}
	}
	big := make([]Field, slabFields)
	if f := in.fields(big); len(f) != slabFields {
		t.Fatalf("%d fields, want %d", len(f), slabFields)
	}
}

// Commands carved from one slab are distinct, their bodies have exactly the size asked
// for and no room to grow into the next, and a body too large for the slab gets its own.
func TestInternerCommandSlab(t *testing.T) {
	var in interner
	mark := make(map[*Command]byte) // what each command's body was filled with
	for i := range 3 * slabCommands {
		for k, n := range []int{0, 1, 7, 64, 65, smallBody, smallBody + 1, 1000} {
			c := in.command(n)
			if _, dup := mark[c]; dup {
				t.Fatalf("command %p handed out twice", c)
			}
			if len(c.Body) != n || cap(c.Body) != n || (n == 0) != (c.Body == nil) {
				t.Fatalf("body of %d: len %d cap %d nil %v", n, len(c.Body), cap(c.Body), c.Body == nil)
			}
			mark[c] = byte(i*8 + k)
			for j := range c.Body {
				c.Body[j] = mark[c]
			}
		}
	}
	for c, m := range mark {
		for _, b := range c.Body {
			if b != m {
				t.Fatalf("body of %p holds %d, want %d: bodies overlap", c, b, m)
			}
		}
	}
	var none *interner
	if c := none.command(10); len(c.Body) != 10 {
		t.Fatalf("nil interner: body of %d", len(c.Body))
	}
}
