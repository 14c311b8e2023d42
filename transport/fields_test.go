package transport

import (
	"reflect"
	"testing"
)

func TestFields(t *testing.T) {
	tests := []struct {
		name   string
		f      Fields
		edit   func(*Fields)
		want   Fields
		lookup map[string]string // key -> value wanted; "!" marks absent
	}{
		{"empty", nil, func(*Fields) {}, nil, map[string]string{"a": "!"}},
		{"set appends", nil, func(f *Fields) { f.Set("b", "1"); f.Set("a", "2") },
			Fields{{"b", "1"}, {"a", "2"}}, map[string]string{"a": "2", "b": "1"}},
		{"set replaces in place", Fields{{"a", "1"}, {"b", "2"}}, func(f *Fields) { f.Set("a", "3") },
			Fields{{"a", "3"}, {"b", "2"}}, map[string]string{"a": "3"}},
		{"a key twice: the later wins", Fields{{"a", "1"}, {"a", "2"}}, func(*Fields) {},
			Fields{{"a", "1"}, {"a", "2"}}, map[string]string{"a": "2"}},
		{"delete removes every entry", Fields{{"a", "1"}, {"b", "2"}, {"a", "3"}}, func(f *Fields) { f.Delete("a") },
			Fields{{"b", "2"}}, map[string]string{"a": "!", "b": "2"}},
		{"empty value is present", Fields{{"a", ""}}, func(*Fields) {}, Fields{{"a", ""}}, map[string]string{"a": ""}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := tc.f
			tc.edit(&f)
			if !reflect.DeepEqual(f, tc.want) {
				t.Fatalf("fields %v, want %v", f, tc.want)
			}
			for k, want := range tc.lookup {
				v, ok := f.Lookup(k)
				if want == "!" {
					if ok {
						t.Fatalf("%q present: %q", k, v)
					}
					continue
				}
				if !ok || v != want || f.Get(k) != want || f.Map()[k] != want {
					t.Fatalf("%q = %q, %v; want %q", k, v, ok, want)
				}
			}
		})
	}
	if got := FieldsOf(map[string]string{"b": "2", "a": "1", "c": "3"}); !reflect.DeepEqual(got, Fields{{"a", "1"}, {"b", "2"}, {"c", "3"}}) {
		t.Fatalf("FieldsOf = %v, want them sorted by key", got)
	}
	if FieldsOf(nil) != nil {
		t.Fatal("FieldsOf(nil) is not nil")
	}
}

// The binary header keeps fields in their order, duplicates included; the JSON header
// sorts them as fastjson does.
func TestFieldOrderOnTheWire(t *testing.T) {
	f := Fields{{"z", "1"}, {"a", "2"}, {"z", "3"}}
	for _, tc := range []struct {
		typ  SerializeType
		want Fields
	}{
		{SerializeRocketMQ, f},
		{SerializeJSON, Fields{{"a", "2"}, {"z", "3"}}},
	} {
		b, err := AppendFrame(nil, &Command{ExtFields: f}, tc.typ)
		must(t, err)
		c, _, err := ParseFrame(b, 0)
		must(t, err)
		if !reflect.DeepEqual(c.ExtFields, tc.want) {
			t.Fatalf("%v: fields %v, want %v", tc.typ, c.ExtFields, tc.want)
		}
	}
}
