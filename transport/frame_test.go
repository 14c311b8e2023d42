package transport

import (
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
)

// The worked examples of the RocketMQ wire specification (shared/rocketmq-wire.md §15),
// checked there against rocketmq-client-go.
var goldenFrames = []struct {
	name string
	cmd  Command
	typ  SerializeType
	hex  string
}{
	{
		name: "1-request-json",
		cmd: Command{Code: 0, Language: LanguageGo, Version: 317, Opaque: 1,
			ExtFields: FieldsOf(map[string]string{"interfaceName": "Hello", "methodName": "SayHello"}), Body: []byte(`["a","b"]`)},
		typ: SerializeJSON,
		hex: "000000a80000009b7b22636f6465223a302c226578744669656c6473223a7b22696e746572666163654e616d65223a2248656c6c6f222c226d6574686f644e616d65223a2253617948656c6c6f227d2c22666c6167223a302c226c616e6775616765223a22474f222c226f7061717565223a312c2273657269616c697a655479706543757272656e74525043223a224a534f4e222c2276657273696f6e223a3331377d5b2261222c2262225d",
	},
	{
		name: "2-request-rocketmq",
		cmd: Command{Code: 0, Language: LanguageGo, Version: 317, Opaque: 1,
			ExtFields: FieldsOf(map[string]string{"interfaceName": "Hello", "methodName": "SayHello"}), Body: []byte(`["a","b"]`)},
		typ: SerializeRocketMQ,
		hex: "0000005201000045000009013d00000001000000000000000000000030000d696e746572666163654e616d650000000548656c6c6f000a6d6574686f644e616d650000000853617948656c6c6f5b2261222c2262225d",
	},
	{
		name: "3a-response-json",
		cmd:  Command{Code: 0, Language: LanguageJava, Version: 479, Opaque: 1, Flag: 1, Remark: "OK", Body: []byte(`"ab"`)},
		typ:  SerializeJSON,
		hex:  "000000750000006d7b22636f6465223a302c22666c6167223a312c226c616e6775616765223a224a415641222c226f7061717565223a312c2272656d61726b223a224f4b222c2273657269616c697a655479706543757272656e74525043223a224a534f4e222c2276657273696f6e223a3437397d22616222",
	},
	{
		name: "3b-response-rocketmq",
		cmd:  Command{Code: 0, Language: LanguageJava, Version: 479, Opaque: 1, Flag: 1, Remark: "OK", Body: []byte(`"ab"`)},
		typ:  SerializeRocketMQ,
		hex:  "0000001f0100001700000001df0000000100000001000000024f4b0000000022616222",
	},
	{
		name: "4-unsupported-json",
		cmd:  Command{Code: 3, Language: LanguageJava, Version: 479, Opaque: 2, Flag: 1, Remark: " request type 12345 not supported"},
		typ:  SerializeJSON,
		hex:  "000000900000008c7b22636f6465223a332c22666c6167223a312c226c616e6775616765223a224a415641222c226f7061717565223a322c2272656d61726b223a2220726571756573742074797065203132333435206e6f7420737570706f72746564222c2273657269616c697a655479706543757272656e74525043223a224a534f4e222c2276657273696f6e223a3437397d",
	},
}

func TestGoldenFrames(t *testing.T) {
	for _, tc := range goldenFrames {
		t.Run(tc.name, func(t *testing.T) {
			want, err := hex.DecodeString(tc.hex)
			if err != nil {
				t.Fatal(err)
			}
			got, err := AppendFrame(nil, &tc.cmd, tc.typ)
			if err != nil {
				t.Fatalf("AppendFrame: %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("encoded frame differs from the specification\n got %x\nwant %x", got, want)
			}
			c, n, err := ParseFrame(want, 0)
			if err != nil {
				t.Fatalf("ParseFrame: %v", err)
			}
			if n != len(want) {
				t.Fatalf("ParseFrame consumed %d bytes, want %d", n, len(want))
			}
			wantCmd := tc.cmd
			wantCmd.Serialize = tc.typ
			if !reflect.DeepEqual(*c, wantCmd) {
				t.Fatalf("decoded\n%+v\nwant\n%+v", *c, wantCmd)
			}
		})
	}
}

func TestRoundTrip(t *testing.T) {
	cmds := []Command{
		{},
		{Code: -7, Language: LanguageRust, Version: 441, Opaque: -1 << 31, Flag: FlagOneway, Remark: "héllo \"quoted\" \\ \n\t\x01"},
		{Code: 32767, Opaque: 1<<31 - 1, ExtFields: FieldsOf(map[string]string{"": "empty key", "k": "", "ünï": "cödé", "ctl": "\x00\x1f"})},
		{Code: 1500, Flag: FlagResponse, Body: bytes.Repeat([]byte{0, 1, 2, 0xff}, 1000)},
	}
	for _, typ := range []SerializeType{SerializeJSON, SerializeRocketMQ} {
		for i, in := range cmds {
			frame, err := AppendFrame(nil, &in, typ)
			if err != nil {
				t.Fatalf("%s #%d: AppendFrame: %v", typ, i, err)
			}
			out, n, err := ParseFrame(frame, 0)
			if err != nil || n != len(frame) {
				t.Fatalf("%s #%d: ParseFrame: n=%d err=%v", typ, i, n, err)
			}
			in.Serialize = typ
			if !reflect.DeepEqual(*out, in) {
				t.Fatalf("%s #%d: round trip\n got %+v\nwant %+v", typ, i, *out, in)
			}
		}
	}
}

func TestJSONHeaderTolerance(t *testing.T) {
	tests := []struct {
		name   string
		header string
		want   Command
	}{
		{"client-go order, nil extFields", `{"code":0,"language":"GO","version":317,"opaque":1,"flag":0,"remark":"","extFields":null}`,
			Command{Language: LanguageGo, Version: 317, Opaque: 1}},
		{"unknown keys and escapes", `{"opaque":5,"extra":[1,{"x":2}],"remark":"a\/b\u00e9","extFields":{"k\u0041":"v"},"code":2,"flag":1,"language":"JAVA"}`,
			Command{Code: 2, Opaque: 5, Flag: 1, Remark: "a/bé", ExtFields: FieldsOf(map[string]string{"kA": "v"})}},
		{"language as a number", `{"code":1,"language":9}`, Command{Code: 1, Language: LanguageGo}},
		{"unknown language name", `{"code":1,"language":"COBOL"}`, Command{Code: 1, Language: LanguageOther}},
		{"empty extFields", `{"code":1,"extFields":{},"remark":null}`, Command{Code: 1}},
		{"a null extFields value", `{"code":1,"extFields":{"k":null}}`, Command{Code: 1, ExtFields: Fields{{"k", ""}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			frame := rawFrame(SerializeJSON, []byte(tc.header), nil)
			c, _, err := ParseFrame(frame, 0)
			if err != nil {
				t.Fatal(err)
			}
			tc.want.Serialize = SerializeJSON
			if !reflect.DeepEqual(*c, tc.want) {
				t.Fatalf("got %+v\nwant %+v", *c, tc.want)
			}
		})
	}
}

// rawFrame builds a frame from a serialize type, a header and a body, valid or not.
func rawFrame(t SerializeType, header, body []byte) []byte {
	n := 4 + len(header) + len(body)
	b := []byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n), byte(t), byte(len(header) >> 16), byte(len(header) >> 8), byte(len(header))}
	return append(append(b, header...), body...)
}

func TestParseFrameErrors(t *testing.T) {
	valid, _ := AppendFrame(nil, &goldenFrames[1].cmd, SerializeRocketMQ)
	tests := []struct {
		name  string
		frame []byte
		max   int
		want  error
		text  string
	}{
		{"empty", nil, 0, io.ErrUnexpectedEOF, ""},
		{"truncated", valid[:len(valid)-1], 0, io.ErrUnexpectedEOF, ""},
		{"negative length", []byte{0x80, 0, 0, 0, 0, 0, 0, 0}, 0, ErrMalformedFrame, "below the minimum"},
		{"length below word", []byte{0, 0, 0, 3, 0, 0, 0}, 0, ErrMalformedFrame, "below the minimum"},
		{"too large", []byte{0, 0xff, 0xff, 0xfd}, 0, ErrFrameTooLarge, "16777216"},
		{"over custom max", valid, 32, ErrFrameTooLarge, "limit is 32"},
		{"exactly 16 MiB announced", []byte{0x01, 0, 0, 0}, 0, ErrFrameTooLarge, ""},
		{"header longer than frame", rawFrame(SerializeRocketMQ, nil, nil)[:4:4], 0, io.ErrUnexpectedEOF, ""},
		{"bad header length", []byte{0, 0, 0, 4, 1, 0, 0, 9}, 0, ErrMalformedFrame, "bad header length"},
		{"unknown serialize type", rawFrame(7, []byte("{}"), nil), 0, ErrMalformedFrame, "unknown serialize type 7"},
		{"bad JSON", rawFrame(SerializeJSON, []byte(`{"code":`), nil), 0, ErrMalformedFrame, "JSON header"},
		{"JSON ext not strings", rawFrame(SerializeJSON, []byte(`{"extFields":{"a":1}}`), nil), 0, ErrMalformedFrame, "JSON header"},
		{"JSON bytes after the header", rawFrame(SerializeJSON, []byte(`{"code":0}{}`), nil), 0, ErrMalformedFrame, "JSON header"},
		{"JSON header null", rawFrame(SerializeJSON, []byte(`null`), nil), 0, ErrMalformedFrame, "not a JSON object"},
		{"JSON header null, spaced", rawFrame(SerializeJSON, []byte(" \n null "), nil), 0, ErrMalformedFrame, "not a JSON object"},
		{"JSON header an array", rawFrame(SerializeJSON, []byte(`[]`), nil), 0, ErrMalformedFrame, "not a JSON object"},
		{"short binary header", rawFrame(SerializeRocketMQ, make([]byte, 20), nil), 0, ErrMalformedFrame, "shorter than its fixed 21"},
		{"remark overruns", rawFrame(SerializeRocketMQ, append(make([]byte, 13), 0, 0, 0, 9, 0, 0, 0, 0), nil), 0, ErrMalformedFrame, "remark of 9 bytes"},
		{"negative remark", rawFrame(SerializeRocketMQ, append(make([]byte, 13), 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0), nil), 0, ErrMalformedFrame, "remark of -1 bytes"},
		{"ext overruns", rawFrame(SerializeRocketMQ, append(make([]byte, 17), 0, 0, 0, 50), nil), 0, ErrMalformedFrame, "extFields of 50 bytes"},
		{"ext key overruns", rawFrame(SerializeRocketMQ, append(make([]byte, 17), 0, 0, 0, 3, 0, 9, 'a'), nil), 0, ErrMalformedFrame, "extFields key of 9"},
		{"ext value negative", rawFrame(SerializeRocketMQ, append(make([]byte, 17), 0, 0, 0, 7, 0, 1, 'a', 0x80, 0, 0, 0), nil), 0, ErrMalformedFrame, "extFields value of -2147483648"},
		{"ext value length cut", rawFrame(SerializeRocketMQ, append(make([]byte, 17), 0, 0, 0, 4, 0, 1, 'a', 0), nil), 0, ErrMalformedFrame, "value length"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, n, err := ParseFrame(tc.frame, tc.max)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if c != nil || n != 0 {
				t.Fatalf("got a command on error: %v, %d", c, n)
			}
			if tc.text != "" && !strings.Contains(err.Error(), tc.text) {
				t.Fatalf("error %q does not mention %q", err, tc.text)
			}
		})
	}
}

func TestAppendFrameErrors(t *testing.T) {
	dst := []byte("keep")
	for _, tc := range []struct {
		name string
		cmd  Command
		typ  SerializeType
		text string
	}{
		{"code beyond 16 bits", Command{Code: 40000}, SerializeRocketMQ, "does not fit"},
		{"long key", Command{ExtFields: FieldsOf(map[string]string{strings.Repeat("k", 40000): "v"})}, SerializeRocketMQ, "key of 40000 bytes"},
		{"unknown type", Command{}, 9, "unknown serialize type"},
	} {
		got, err := AppendFrame(dst, &tc.cmd, tc.typ)
		if err == nil || !strings.Contains(err.Error(), tc.text) {
			t.Errorf("%s: err = %v, want it to mention %q", tc.name, err, tc.text)
		}
		if string(got) != "keep" {
			t.Errorf("%s: dst changed to %q", tc.name, got)
		}
	}
	// A code beyond 16 bits still travels in JSON.
	frame, err := AppendFrame(nil, &Command{Code: 40000}, SerializeJSON)
	if err != nil {
		t.Fatal(err)
	}
	if c, _, err := ParseFrame(frame, 0); err != nil || c.Code != 40000 {
		t.Fatalf("JSON code 40000: %v %v", c, err)
	}
}

func TestCommandString(t *testing.T) {
	c := Command{Code: 3, Opaque: 9, Flag: FlagResponse, Remark: "no", ExtFields: FieldsOf(map[string]string{"b": "2", "a": "1"}), Body: []byte("xyz")}
	want := `response{code=3 opaque=9 flag=1 lang=JAVA version=0 remark="no" ext={a="1" b="2"} body=3B}`
	if got := c.String(); got != want {
		t.Fatalf("got %s\nwant %s", got, want)
	}
	if got := LanguageCode(200).String(); got != "LanguageCode(200)" {
		t.Fatal(got)
	}
}

// docHex turns a frame as docs/PROTOCOL.md prints it into its bytes: hex digits, and
// text between double quotes taken as it is.
func docHex(t *testing.T, parts ...string) []byte {
	t.Helper()
	var b []byte
	for _, p := range parts {
		if len(p) > 1 && p[0] == '"' {
			b = append(b, p[1:len(p)-1]...)
			continue
		}
		h, err := hex.DecodeString(p)
		if err != nil {
			t.Fatalf("%q: %v", p, err)
		}
		b = append(b, h...)
	}
	return b
}

// TestGoldenStreamExample: the frames of docs/PROTOCOL.md §9.5, the worked example of
// a stream, as the document prints them, are what ringrpc encodes and decodes.
func TestGoldenStreamExample(t *testing.T) {
	frame := func(code, opaque, flag int32, remark string, fs Fields, body []byte) Command {
		return Command{Code: code, Language: LanguageGo, Version: 479, Opaque: opaque, Flag: flag, Remark: remark, ExtFields: fs, Body: body}
	}
	for _, tc := range []struct {
		name string
		cmd  Command
		doc  []string
	}{
		{"1-opening-request",
			frame(0, 7, 4, "", Fields{{"interfaceName", "Feed"}, {"methodName", "Watch"}, {fieldStreamWindow, "64"}}, []byte(`["news"]`)),
			[]string{"00000063", "01", "000057", "0000", "09", "01df", "00000007", "00000004", "00000000", "00000042",
				"000d", `"interfaceName"`, "00000004", `"Feed"`, "000a", `"methodName"`, "00000005", `"Watch"`,
				"000e", `"ringrpc.window"`, "00000002", `"64"`, `"["news"]"`}},
		{"2-first-grant",
			frame(codeStreamDown, 1, 2, "", Fields{{fieldStreamID, "7"}, {fieldStreamCredit, "64"}}, nil),
			[]string{"00000041", "01", "00003d", "1e18", "09", "01df", "00000001", "00000002", "00000000", "00000028",
				"000b", `"ringrpc.sid"`, "00000001", `"7"`, "000e", `"ringrpc.credit"`, "00000002", `"64"`}},
		{"3-message-1",
			frame(codeStreamDown, 2, 2, "", Fields{{fieldStreamID, "7"}, {fieldStreamSeq, "1"}}, []byte(`{"id":1}`)),
			[]string{"00000045", "01", "000039", "1e18", "09", "01df", "00000002", "00000002", "00000000", "00000024",
				"000b", `"ringrpc.sid"`, "00000001", `"7"`, "000b", `"ringrpc.seq"`, "00000001", `"1"`, `"{"id":1}"`}},
		{"3-messages-2-and-3",
			frame(codeStreamDown, 3, 2, "", Fields{{fieldStreamID, "7"}, {fieldStreamSeq, "2"}, {fieldStreamCount, "2"}}, lengthPrefixed(`{"id":2}`, `{"id":3}`)),
			[]string{"00000069", "01", "00004d", "1e18", "09", "01df", "00000003", "00000002", "00000000", "00000038",
				"000b", `"ringrpc.sid"`, "00000001", `"7"`, "000b", `"ringrpc.seq"`, "00000001", `"2"`,
				"000d", `"ringrpc.count"`, "00000001", `"2"`, "00000008", `"{"id":2}"`, "00000008", `"{"id":3}"`}},
		{"4-grant",
			frame(codeStreamUp, 8, 2, "", Fields{{fieldStreamID, "7"}, {fieldStreamCredit, "32"}}, nil),
			[]string{"00000041", "01", "00003d", "1e17", "09", "01df", "00000008", "00000002", "00000000", "00000028",
				"000b", `"ringrpc.sid"`, "00000001", `"7"`, "000e", `"ringrpc.credit"`, "00000002", `"32"`}},
		{"5-response",
			frame(0, 7, 1, "", nil, nil),
			[]string{"00000019", "01", "000015", "0000", "09", "01df", "00000007", "00000001", "00000000", "00000000"}},
		{"5-failure",
			frame(705, 7, 1, "no topic", nil, nil),
			[]string{"00000021", "01", "00001d", "02c1", "09", "01df", "00000007", "00000001", "00000008", `"no topic"`, "00000000"}},
		{"6-reset",
			frame(codeStreamUp, 9, 2, "", Fields{{fieldStreamID, "7"}, {fieldStreamFlags, "2"}}, nil),
			[]string{"0000003f", "01", "00003b", "1e17", "09", "01df", "00000009", "00000002", "00000000", "00000026",
				"000b", `"ringrpc.sid"`, "00000001", `"7"`, "000d", `"ringrpc.flags"`, "00000001", `"2"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := docHex(t, tc.doc...)
			got, err := AppendFrame(nil, &tc.cmd, SerializeRocketMQ)
			must(t, err)
			if !bytes.Equal(got, want) {
				t.Fatalf("encoded frame differs from docs/PROTOCOL.md §9.5\n got %x\nwant %x", got, want)
			}
			c, n, err := ParseFrame(want, 0)
			must(t, err)
			wantCmd := tc.cmd
			wantCmd.Serialize = SerializeRocketMQ
			if n != len(want) || !reflect.DeepEqual(*c, wantCmd) {
				t.Fatalf("decoded %d of %d bytes\n%+v\nwant\n%+v", n, len(want), *c, wantCmd)
			}
		})
	}
	t.Run("3-message-1-json", func(t *testing.T) {
		cmd := frame(codeStreamDown, 2, 2, "", Fields{{fieldStreamID, "7"}, {fieldStreamSeq, "1"}}, []byte(`{"id":1}`))
		b, err := AppendFrame(nil, &cmd, SerializeJSON)
		must(t, err)
		want := `{"code":7704,"extFields":{"ringrpc.seq":"1","ringrpc.sid":"7"},"flag":2,"language":"GO","opaque":2,"serializeTypeCurrentRPC":"JSON","version":479}{"id":1}`
		if string(b[8:]) != want {
			t.Fatalf("JSON header frame\n got %s\nwant %s", b[8:], want)
		}
	})
}

// TestHeaderOverItsLimitIsFrameTooLarge: a header over the 24-bit length a frame gives
// it is refused before sending as a frame over the limit is, with ErrFrameTooLarge.
func TestHeaderOverItsLimitIsFrameTooLarge(t *testing.T) {
	for _, st := range []SerializeType{SerializeJSON, SerializeRocketMQ} {
		req := NewRequest(codeEcho, Fields{{"big", strings.Repeat("x", maxHeaderSize)}}, nil)
		if _, err := AppendFrame(nil, req, st); !errors.Is(err, ErrFrameTooLarge) || !strings.Contains(err.Error(), "header limit") {
			t.Errorf("serialize type %d: a header over %d bytes: %v, want ErrFrameTooLarge naming the header limit", st, maxHeaderSize, err)
		}
	}
}
