package main

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"unicode/utf8"
)

// shown is s as text output prints it: quoted (strconv.Quote) when it holds a
// character that is not printable, or is not UTF-8, so that what a peer chose (a
// member's name, a service's, an address, an error's text) cannot drive the
// operator's terminal with control sequences.
func shown(s string) string { return quoteUnless(s, "") }

// shownText is shown for an error's text, which may run over lines.
func shownText(s string) string { return quoteUnless(s, "\n") }

// quoteUnless quotes s when it holds a character that is neither printable nor in
// allowed.
func quoteUnless(s, allowed string) string {
	for _, r := range s {
		if r == utf8.RuneError || !strconv.IsPrint(r) && !strings.ContainsRune(allowed, r) {
			return strconv.Quote(s)
		}
	}
	return s
}

// shownList is shown of each of ss, joined by sep.
func shownList(ss []string, sep string) string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = shown(s)
	}
	return strings.Join(out, sep)
}

// terminalJSON turns the escapes \u003c, \u003e and \u0026 of the strings of valid
// JSON back into <, > and &, which Go's encoders escape for HTML and a terminal
// shows as they are. Every other escape stays, and DEL and the C1 controls (U+0080
// to U+009F), which Go's encoders leave as they are and a terminal may obey, are
// escaped.
func terminalJSON(b []byte) []byte {
	out := make([]byte, 0, len(b))
	inString := false
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch {
		case !inString:
			inString = c == '"'
		case c == '"':
			inString = false
		case c == '\\' && i+1 < len(b):
			if i+5 < len(b) && b[i+1] == 'u' {
				if r, ok := htmlEscapes[strings.ToLower(string(b[i+2:i+6]))]; ok {
					out = append(out, r)
					i += 5
					continue
				}
			}
			out = append(out, c, b[i+1]) // an escape of two bytes, or the start of \uXXXX
			i++
			continue
		case c == 0x7f:
			out = append(out, `\u007f`...)
			continue
		case c == 0xc2 && i+1 < len(b) && b[i+1] >= 0x80 && b[i+1] <= 0x9f:
			out = append(out, '\\', 'u', '0', '0', hexDigits[b[i+1]>>4], hexDigits[b[i+1]&0xf])
			i++
			continue
		}
		out = append(out, c)
	}
	return out
}

var htmlEscapes = map[string]byte{"003c": '<', "003e": '>', "0026": '&'}

const hexDigits = "0123456789abcdef"

// shownResults is a call's results as call prints them: indented JSON, escapes and
// all but those for HTML (terminalJSON). Results that are not valid JSON, or not
// UTF-8, which json.Indent lets through and an 8-bit terminal may read as C1
// controls, are shown quoted instead (shown).
func shownResults(out []byte) string {
	var pretty bytes.Buffer
	if !utf8.Valid(out) || json.Indent(&pretty, out, "", "  ") != nil {
		return shown(string(out))
	}
	return string(terminalJSON(pretty.Bytes()))
}
