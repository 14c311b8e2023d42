// Package jsonstr writes JSON strings the way encoding/json does, for the hand-written
// encoders of the transport headers and the rpc arguments.
package jsonstr

import "unicode/utf8"

const hexDigits = "0123456789abcdef"

// Append writes s as a JSON string: quotes, backslashes and control characters
// escaped, invalid UTF-8 replaced by U+FFFD, U+2028 and U+2029 escaped, other text as
// raw UTF-8. Unlike encoding/json it leaves <, > and & alone.
func Append(dst []byte, s string) []byte { return appendString(dst, s, &plainSafe, false) }

// AppendHTML writes s as Append does, and escapes <, > and & too, as encoding/json
// and go-json do by default.
func AppendHTML(dst []byte, s string) []byte { return appendString(dst, s, &htmlSafe, false) }

// AppendQuotedHTML writes, in one pass, what Append writes for the string AppendHTML
// writes for s: the ",string" option of a string field. That inner string holds no
// control character and no U+2028 or U+2029, so the outer one only escapes its quotes
// and backslashes.
func AppendQuotedHTML(dst []byte, s string) []byte {
	dst = append(dst, '"', '\\')
	dst = appendString(dst, s, &htmlSafe, true)
	return append(dst[:len(dst)-1], '\\', '"', '"')
}

// plainSafe and htmlSafe mark the ASCII bytes a JSON string holds as they are.
var plainSafe, htmlSafe = func() (plain, html [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		plain[c] = c != '"' && c != '\\'
		html[c] = plain[c] && c != '<' && c != '>' && c != '&'
	}
	return plain, html
}()

// appendString writes s as a JSON string; twice escapes the backslashes and quotes of
// its escapes again, for AppendQuotedHTML.
func appendString(dst []byte, s string, safe *[utf8.RuneSelf]bool, twice bool) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if safe[c] {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			dst = appendEscaped(dst, c, twice)
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(backslash(dst, twice), `ufffd`...)
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(backslash(dst, twice), 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

func appendEscaped(dst []byte, c byte, twice bool) []byte {
	dst = backslash(dst, twice)
	switch c {
	case '"', '\\':
		if twice {
			return append(dst, '\\', c)
		}
		return append(dst, c)
	case '\n':
		return append(dst, 'n')
	case '\r':
		return append(dst, 'r')
	case '\t':
		return append(dst, 't')
	case '\b':
		return append(dst, 'b')
	case '\f':
		return append(dst, 'f')
	}
	return append(dst, 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
}

// backslash writes the backslash an escape starts with, itself escaped when twice.
func backslash(dst []byte, twice bool) []byte {
	if twice {
		return append(dst, '\\', '\\')
	}
	return append(dst, '\\')
}
