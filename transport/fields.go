package transport

import (
	"cmp"
	"maps"
	"slices"
)

// Field is one extFields entry of a header.
type Field struct {
	Key, Value string
}

// Fields are a command's extFields: string key/value pairs, kept and sent in order.
//
// A header holds a handful of them, so a slice scanned from the end serves better than
// a map: a received header decodes into one allocation, and a sent one encodes without
// sorting. A key that arrives twice is kept twice; Get sees the later value, the one a
// Java HashMap would have kept.
type Fields []Field

// Get returns the value of key, or "" when it is absent.
func (f Fields) Get(key string) string {
	v, _ := f.Lookup(key)
	return v
}

// Lookup returns the value of key and whether it is present.
func (f Fields) Lookup(key string) (string, bool) {
	for i := len(f) - 1; i >= 0; i-- {
		if f[i].Key == key {
			return f[i].Value, true
		}
	}
	return "", false
}

// Set gives key the value: in place when key is present, else at the end.
func (f *Fields) Set(key, value string) {
	for i := len(*f) - 1; i >= 0; i-- {
		if (*f)[i].Key == key {
			(*f)[i].Value = value
			return
		}
	}
	*f = append(*f, Field{key, value})
}

// Delete removes every entry of key.
func (f *Fields) Delete(key string) {
	*f = slices.DeleteFunc(*f, func(e Field) bool { return e.Key == key })
}

// Map returns the fields as a map, with the later value of a key set twice.
func (f Fields) Map() map[string]string {
	m := make(map[string]string, len(f))
	for _, e := range f {
		m[e.Key] = e.Value
	}
	return m
}

// FieldsOf returns the entries of m sorted by key, so that the frame they go into is
// the same every time.
func FieldsOf(m map[string]string) Fields {
	if len(m) == 0 {
		return nil
	}
	f := make(Fields, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		f = append(f, Field{k, m[k]})
	}
	return f
}

// sortedByKey returns the fields sorted by key, stably, in scratch when they fit: the
// JSON header lists them in the order of Java's fastjson.
func sortedByKey(f Fields, scratch []Field) []Field {
	s := append(scratch[:0], f...)
	slices.SortStableFunc(s, func(a, b Field) int { return cmp.Compare(a.Key, b.Key) })
	return s
}
