package quotedescape

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/ringrpc/ringrpc/rpc"
)

// The string option reads a string from inside the JSON string as encoding/json
// does, which unquotes it without the scanner: it takes \' for a quote.
func TestQuotedStringApostropheEscape(t *testing.T) {
	for _, in := range []string{
		`{"s":"\"\\'\""}`,
		`{"s":"\"it\\'s\""}`,
		`{"t":"\"\\'0\""}`,
		`{"p":"\"\\'\""}`,
	} {
		var got, want Note
		err := rpc.ReadJSON([]byte(in), &got, notesDecodeNote)
		stdErr := json.Unmarshal([]byte(in), &want)
		if (err == nil) != (stdErr == nil) || err == nil && !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\ngenerated:     %+v, %v\nencoding/json: %+v, %v", in, got, err, want, stdErr)
		}
	}
}
