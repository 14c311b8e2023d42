// Package jsonstr writes JSON strings the way encoding/json does, for the hand-written
// encoders of the transport headers and the rpc arguments.
package jsonstr

import (
	"math/bits"
	"unicode/utf8"
)

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
// its escapes again, for AppendQuotedHTML. A string of eight bytes or more is read
// eight bytes at a time up to each byte that needs a look, a shorter one a byte at a
// time from the table; most strings need nothing escaped, and are copied at once.
func appendString(dst []byte, s string, safe *[utf8.RuneSelf]bool, twice bool) []byte {
	i := 0
	if len(s) >= 8 {
		i = plainRun(s, 0, safe == &htmlSafe)
	} else {
		for i < len(s) && s[i] < utf8.RuneSelf && safe[s[i]] {
			i++
		}
	}
	dst = append(dst, '"')
	if i < len(s) {
		return appendRest(dst, s, i, safe, twice)
	}
	dst = append(dst, s...)
	return append(dst, '"')
}

// appendRest writes the rest of appendString's string from i, the first byte that
// needs a look: s[:i] is written as it is.
func appendRest(dst []byte, s string, i int, safe *[utf8.RuneSelf]bool, twice bool) []byte {
	long, html := len(s) >= 8, safe == &htmlSafe
	start := 0
	for i < len(s) {
		switch c := s[i]; {
		case c < utf8.RuneSelf && safe[c]:
			i++
			continue
		case c < utf8.RuneSelf:
			dst = append(dst, s[start:i]...)
			dst = appendEscaped(dst, c, twice)
			i++
			start = i
		default:
			r, size := utf8.DecodeRuneInString(s[i:])
			switch {
			case r == utf8.RuneError && size == 1:
				dst = append(dst, s[start:i]...)
				dst = append(backslash(dst, twice), `ufffd`...)
				start = i + size
			case r == '\u2028' || r == '\u2029':
				dst = append(dst, s[start:i]...)
				dst = append(backslash(dst, twice), 'u', '2', '0', '2', hexDigits[r&0xf])
				start = i + size
			}
			i += size
		}
		if long {
			i = plainRun(s, i, html)
		}
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

const (
	lsbs = 0x0101010101010101
	msbs = 0x8080808080808080
)

// plainRun returns the offset of the first byte of s, a string of at least eight
// bytes, from i on that may need escaping, or len(s): a quote, a backslash, a control
// character, a byte from 0x80, and with html <, > and &. It reads eight bytes at a
// time, and the last bytes as the eight that end s.
func plainRun(s string, i int, html bool) int {
	t := s[i:]
	for ; len(t) >= 8; t = t[8:] {
		if m := special(load8(t), html); m != 0 {
			return len(s) - len(t) + bits.TrailingZeros64(m)/8
		}
	}
	if len(t) == 0 {
		return len(s)
	}
	// The last eight bytes, less those already read. A byte read already may have
	// set flags above it: the caller finds the byte safe and reads on.
	if m := special(load8(s[len(s)-8:]), html) >> (8 * (8 - len(t))); m != 0 {
		return len(s) - len(t) + bits.TrailingZeros64(m)/8
	}
	return len(s)
}

// load8 reads t[:8] little-endian.
func load8(t string) uint64 {
	t = t[:8]
	return uint64(t[0]) | uint64(t[1])<<8 | uint64(t[2])<<16 | uint64(t[3])<<24 |
		uint64(t[4])<<32 | uint64(t[5])<<40 | uint64(t[6])<<48 | uint64(t[7])<<56
}

// special flags, in their top bits, the bytes of w, eight bytes of a string, that a
// JSON string may not hold as they are; the lowest flag is exact.
func special(w uint64, html bool) uint64 {
	// A top bit is set where a byte is below 0x20 (it wraps), from 0x80 (w), or one
	// of the bytes looked for (the masked xor makes it 0, which wraps): other ASCII
	// bytes stay below 0x80 in each term. A borrow only comes from a byte flagged
	// below it. '"' and '&' differ in one bit, and so do '<' and '>'.
	m := (w - lsbs*0x20) | w | (w ^ lsbs*'\\' - lsbs)
	if html {
		m |= ((w^lsbs*'"')&^(lsbs*4) - lsbs) | ((w^lsbs*'<')&^(lsbs*2) - lsbs)
	} else {
		m |= w ^ lsbs*'"' - lsbs
	}
	return m & msbs
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
