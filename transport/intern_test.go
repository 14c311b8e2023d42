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
