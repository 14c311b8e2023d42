package transport

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/ringrpc/ringrpc/internal/jsonstr"
)

// appendJSONHeader writes the header the way Java's fastjson does: keys in alphabetical
// order, no whitespace, empty remark and extFields left out, extFields sorted by key.
func appendJSONHeader(dst []byte, c *Command) []byte {
	dst = append(dst, `{"code":`...)
	dst = strconv.AppendInt(dst, int64(c.Code), 10)
	if len(c.ExtFields) > 0 {
		dst = append(dst, `,"extFields":{`...)
		var scratch [16]Field
		for i, f := range sortedByKey(c.ExtFields, scratch[:]) {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = jsonstr.Append(dst, f.Key)
			dst = append(dst, ':')
			dst = jsonstr.Append(dst, f.Value)
		}
		dst = append(dst, '}')
	}
	dst = append(dst, `,"flag":`...)
	dst = strconv.AppendInt(dst, int64(c.Flag), 10)
	dst = append(dst, `,"language":`...)
	if int(c.Language) < len(languageNames) {
		dst = jsonstr.Append(dst, languageNames[c.Language])
	} else {
		dst = strconv.AppendUint(dst, uint64(c.Language), 10)
	}
	dst = append(dst, `,"opaque":`...)
	dst = strconv.AppendInt(dst, int64(c.Opaque), 10)
	if c.Remark != "" {
		dst = append(dst, `,"remark":`...)
		dst = jsonstr.Append(dst, c.Remark)
	}
	dst = append(dst, `,"serializeTypeCurrentRPC":"JSON","version":`...)
	dst = strconv.AppendInt(dst, int64(c.Version), 10)
	return append(dst, '}')
}

// jsonHeader is the decoding shape of a JSON header. Unknown keys are ignored; absent or
// null remark and extFields decode as empty.
type jsonHeader struct {
	Code      int32        `json:"code"`
	Language  jsonLanguage `json:"language"`
	Version   int32        `json:"version"`
	Opaque    int32        `json:"opaque"`
	Flag      int32        `json:"flag"`
	Remark    *string      `json:"remark"`
	ExtFields jsonFields   `json:"extFields"`
}

// jsonLanguage accepts a language as its name (what Java and Go send) or its number.
type jsonLanguage LanguageCode

func (l *jsonLanguage) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, []byte("null")) {
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var name string
		if err := json.Unmarshal(b, &name); err != nil {
			return err
		}
		*l = jsonLanguage(languageByName(name))
		return nil
	}
	var n uint8
	if err := json.Unmarshal(b, &n); err != nil {
		return err
	}
	*l = jsonLanguage(n)
	return nil
}

func decodeJSONHeader(c *Command, h []byte) error {
	// The json package reads null into a struct as nothing at all: a request of
	// code 0 that no peer sent.
	if t := bytes.TrimLeft(h, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		return malformed("JSON header: %.16q is not a JSON object", t)
	}
	var j jsonHeader
	if err := json.Unmarshal(h, &j); err != nil {
		return malformed("JSON header: %v", err)
	}
	c.Code, c.Language, c.Version, c.Opaque, c.Flag = j.Code, LanguageCode(j.Language), j.Version, j.Opaque, j.Flag
	if j.Remark != nil {
		c.Remark = *j.Remark
	}
	if len(j.ExtFields) > 0 {
		c.ExtFields = Fields(j.ExtFields)
	}
	return nil
}

// jsonFields decodes extFields, an object of strings, straight into Fields sorted by
// key, the last value of a key kept, as a map of them would be: it costs what it
// keeps, one slice of exactly its entries and their strings, where a map, its keys
// sorted and the slice made from them would cost several times more on the way.
type jsonFields Fields

// UnmarshalJSON decodes b, which the json package has checked to be valid JSON. A
// second extFields in a header adds to the first, as it would to a map.
func (f *jsonFields) UnmarshalJSON(b []byte) error {
	if b[0] == 'n' { // null
		return nil
	}
	if b[0] != '{' {
		return errors.New("extFields is not an object")
	}
	fs := append(make(Fields, 0, len(*f)+jsonEntries(b)), *f...)
	for i := jsonSpace(b, 1); b[i] != '}'; {
		key, j, err := jsonString(b, i)
		if err != nil {
			return err
		}
		var value string
		if i = jsonSpace(b, jsonSpace(b, j)+1); b[i] == 'n' { // null: an empty value
			j = i + len("null")
		} else if value, j, err = jsonString(b, i); err != nil {
			return fmt.Errorf("extFields value of %q: %w", key, err)
		}
		fs = append(fs, Field{key, value})
		if i = jsonSpace(b, j); b[i] == ',' {
			i = jsonSpace(b, i+1)
		}
	}
	byKey := func(a, b Field) int { return strings.Compare(a.Key, b.Key) }
	if !slices.IsSortedFunc(fs, byKey) {
		slices.SortStableFunc(fs, byKey)
	}
	kept := fs[:0]
	for i, x := range fs {
		if i+1 == len(fs) || fs[i+1].Key != x.Key {
			kept = append(kept, x)
		}
	}
	*f = jsonFields(kept)
	return nil
}

// jsonSpace returns the index of the first byte of b from i that is not JSON
// whitespace.
func jsonSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// jsonString decodes the valid JSON string at b[i], and returns it and the index
// after it. A string of plain ASCII without escapes is copied as it is.
func jsonString(b []byte, i int) (string, int, error) {
	if b[i] != '"' {
		return "", i, errors.New("not a string")
	}
	plain := true
	j := i + 1
	for ; b[j] != '"'; j++ {
		switch {
		case b[j] == '\\':
			plain = false
			j++
		case b[j] >= utf8.RuneSelf:
			plain = false
		}
	}
	if plain {
		return string(b[i+1 : j]), j + 1, nil
	}
	var s string
	err := json.Unmarshal(b[i:j+1], &s)
	return s, j + 1, err
}

// jsonEntries counts the colons of a JSON text outside its strings: in an object of
// strings, its entries; in a header, at most its extFields entries and its own keys.
func jsonEntries(h []byte) int {
	n, quoted := 0, false
	for i := 0; i < len(h); i++ {
		switch c := h[i]; {
		case quoted && c == '\\':
			i++
		case c == '"':
			quoted = !quoted
		case !quoted && c == ':':
			n++
		}
	}
	return n
}
