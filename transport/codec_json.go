package transport

import (
	"bytes"
	"encoding/json"
	"strconv"

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
	Code      int32             `json:"code"`
	Language  jsonLanguage      `json:"language"`
	Version   int32             `json:"version"`
	Opaque    int32             `json:"opaque"`
	Flag      int32             `json:"flag"`
	Remark    *string           `json:"remark"`
	ExtFields map[string]string `json:"extFields"`
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
	var j jsonHeader
	if err := json.Unmarshal(h, &j); err != nil {
		return malformed("JSON header: %v", err)
	}
	c.Code, c.Language, c.Version, c.Opaque, c.Flag = j.Code, LanguageCode(j.Language), j.Version, j.Opaque, j.Flag
	if j.Remark != nil {
		c.Remark = *j.Remark
	}
	c.ExtFields = FieldsOf(j.ExtFields)
	return nil
}
