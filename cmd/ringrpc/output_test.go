package main

import (
	"strconv"
	"strings"
	"testing"

	"github.com/ringrpc/ringrpc/example/hello"
	"github.com/ringrpc/ringrpc/registry"
)

// TestCLIQuotesControlCharactersOfPeers: a member's name is whatever a peer chose;
// one with terminal control sequences (here: set the window title, clear the
// screen) is printed quoted, so that it cannot act on the operator's terminal, in
// members, ring and health; --json escapes them as JSON does.
func TestCLIQuotesControlCharactersOfPeers(t *testing.T) {
	evil := "evil\x1b]0;pwned\x07\x1b[2J"
	_, seed := providerWith(t, evil, nil, registry.Fast)
	for _, args := range [][]string{
		{"members", "--seed", seed, "--preset", "fast"},
		{"members", "--seed", seed, "--preset", "fast", "--json"},
		{"ring", hello.HelloServiceName, "--seed", seed, "--preset", "fast"},
		{"ring", hello.HelloServiceName, "--seed", seed, "--preset", "fast", "--json"},
	} {
		code, out, errs := runCLI(args...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, errs)
		}
		if strings.ContainsAny(out, "\x1b\x07") {
			t.Errorf("%v printed a member name's control characters raw: %q", args, out)
		}
		if !strings.Contains(args[len(args)-1], "json") && !strings.Contains(out, strconv.Quote(evil)) {
			t.Errorf("%v did not print the member's name quoted: %q", args, out)
		}
	}
}

// TestCLICallPrintsHTMLCharacters: call prints the results' <, > and & as they are,
// not escaped as \u003c, \u003e and \u0026; other escapes stay.
func TestCLICallPrintsHTMLCharacters(t *testing.T) {
	addr, _ := provider(t)
	code, out, errs := runCLI("call", "--addr", addr, hello.HelloServiceName, "SayHello", `["<a> & \"b\"","\\u003c\u0001"]`)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if want := `"hello <a> & \"b\" \\u003c\u0001"`; strings.TrimSpace(out) != want {
		t.Errorf("call printed %s, want %s", out, want)
	}
}

func TestTerminalJSON(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`"\u003ca\u003E \u0026"`, `"<a> &"`},
		{`"\\u003c"`, `"\\u003c"`},  // a backslash, then the text u003c
		{`"\"\u003c\""`, `"\"<\""`}, // an escaped quote does not end the string
		{`{"\u003c": "\u2028\n\u0001"}`, `{"<": "\u2028\n\u0001"}`},
		{`[1, "x", null]`, `[1, "x", null]`},
		{"\"a\x7fb\u009b[2J\u0085é\"", `"a\u007fb\u009b[2J\u0085é"`}, // DEL and C1 controls
	} {
		if got := string(terminalJSON([]byte(tc.in))); got != tc.want {
			t.Errorf("terminalJSON(%s) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestShown(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"p1", "p1"},
		{"host name:7946", "host name:7946"},
		{"é-ü", "é-ü"},
		{"a\tb", `"a\tb"`},
		{"a\nb", `"a\nb"`},
		{"\x1b[2J", `"\x1b[2J"`},
		{"\xff", `"\xff"`},
	} {
		if got := shown(tc.in); got != tc.want {
			t.Errorf("shown(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
	if got := shownText("line one\nline two"); got != "line one\nline two" {
		t.Errorf("shownText kept no new line: %q", got)
	}
}

// TestCallResultsShowNoRawControls: whatever a provider answers, call prints no
// byte a terminal may obey (C0 but newline, DEL, C1 as UTF-8, or a lone 0x80-0x9f
// byte, which a terminal in an 8-bit locale takes for C1 such as CSI): results that
// are not valid JSON or not UTF-8 are shown quoted; valid ones indented as before.
func TestCallResultsShowNoRawControls(t *testing.T) {
	for _, tc := range []struct{ out, want string }{
		{"\"\x9b[2J\"", `"\"\x9b[2J\""`},                  // valid to encoding/json, which does not check UTF-8
		{"\"\x1b[2Jx\"", `"\"\x1b[2Jx\""`},                // not JSON: json.Indent fails
		{"\"\xc2\"", `"\"\xc2\""`},                        // a truncated C2 at the end of a string
		{"[1,\x1b]", `"[1,\x1b]"`},                        // not JSON, ESC outside a string
		{`{"a":"<b> & é"}`, "{\n  \"a\": \"<b> & é\"\n}"}, // valid: indented
		{`"\u003cb\u003e \u0085"`, `"<b> \u0085"`},        // valid: only HTML escapes go
	} {
		got := shownResults([]byte(tc.out))
		if got != tc.want {
			t.Errorf("results %q are shown as %q, want %q", tc.out, got, tc.want)
		}
		for _, c := range []byte(got) {
			if c < 0x20 && c != '\n' || c == 0x7f || c >= 0x80 && c <= 0x9f {
				t.Errorf("results %q are shown as %q: a raw control byte 0x%02x reaches the terminal", tc.out, got, c)
				break
			}
		}
	}
}
