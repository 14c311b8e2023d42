package transport

import (
	"fmt"
	"strings"
	"time"
)

// Flag bits of [Command.Flag].
const (
	// FlagResponse marks a response; a request has it clear (RocketMQ's RPC_TYPE bit).
	FlagResponse int32 = 1 << 0
	// FlagOneway marks a request that must never be answered (RocketMQ's RPC_ONEWAY bit).
	FlagOneway int32 = 1 << 1
)

// Response codes of the remoting layer (RocketMQ's RemotingSysResponseCode) and the
// graceful-shutdown code of RocketMQ 5.x.
const (
	CodeSuccess                 int32 = 0
	CodeSystemError             int32 = 1
	CodeSystemBusy              int32 = 2
	CodeRequestCodeNotSupported int32 = 3
	CodeTransactionFailed       int32 = 4
	// CodeGoAway answers a request that arrived while the server was shutting down.
	// The request was not processed, so it is safe to send again elsewhere.
	CodeGoAway int32 = 1500
)

// DefaultVersion is the version sent in every command unless Options.Version says
// otherwise: 479, RocketMQ V5_3_3, whose features ringrpc speaks (GO_AWAY included).
const DefaultVersion int32 = 479

// LanguageCode names the implementation language of a command's sender.
type LanguageCode uint8

// The language codes RocketMQ defines.
const (
	LanguageJava LanguageCode = iota
	LanguageCPP
	LanguageDotNet
	LanguagePython
	LanguageDelphi
	LanguageErlang
	LanguageRuby
	LanguageOther
	LanguageHTTP
	LanguageGo
	LanguagePHP
	LanguageOMS
	LanguageRust
	LanguageNodeJS
)

var languageNames = [...]string{
	"JAVA", "CPP", "DOTNET", "PYTHON", "DELPHI", "ERLANG", "RUBY", "OTHER",
	"HTTP", "GO", "PHP", "OMS", "RUST", "NODE_JS",
}

// String returns the name RocketMQ uses for the language in JSON headers.
func (l LanguageCode) String() string {
	if int(l) < len(languageNames) {
		return languageNames[l]
	}
	return fmt.Sprintf("LanguageCode(%d)", uint8(l))
}

// languageByName maps a JSON header's language name to its code; unknown names map to
// LanguageOther, as an older Java peer maps unknown values to null.
func languageByName(name string) LanguageCode {
	for i, n := range languageNames {
		if n == name {
			return LanguageCode(i)
		}
	}
	return LanguageOther
}

// SerializeType selects the header serialization of a frame.
type SerializeType uint8

const (
	// SerializeJSON is the JSON header, Java's default.
	SerializeJSON SerializeType = 0
	// SerializeRocketMQ is the binary "ROCKETMQ" header: smaller and faster to encode.
	SerializeRocketMQ SerializeType = 1
)

// String returns "JSON" or "ROCKETMQ".
func (t SerializeType) String() string {
	switch t {
	case SerializeJSON:
		return "JSON"
	case SerializeRocketMQ:
		return "ROCKETMQ"
	}
	return fmt.Sprintf("SerializeType(%d)", uint8(t))
}

// Command is one RocketMQ remoting command: a request or a response.
//
// A Command handed to an Invoke method is only read: the connection chooses the opaque,
// the flag bits of the invocation mode, the language and the version when it encodes the
// frame, so one request value may be sent many times and from many goroutines at once.
//
// A received command shares its allocation with fifteen others, and a body of at most
// 256 bytes shares one with the bodies received beside it: keeping a received command
// alive for long keeps up to 5.5 KiB, so copy what is needed out of it.
type Command struct {
	// Code is the request code of a request or the response code of a response.
	Code int32
	// Language is the sender's implementation language.
	Language LanguageCode
	// Serialize is the header serialization the command arrived in; responses to a
	// request use the request's. (It sits here, beside Language, so that the two
	// bytes share a word: a received command is allocated per frame.)
	Serialize SerializeType
	// Version is the sender's RocketMQ version ordinal; the binary header keeps 16 bits.
	Version int32
	// Opaque correlates a response with its request.
	Opaque int32
	// Flag holds FlagResponse and FlagOneway; other bits are ignored.
	Flag int32
	// Remark carries the error text of a failed response.
	Remark string
	// ExtFields are the header's string key/value pairs, sent in order.
	ExtFields Fields
	// Body is the payload, delimited by the frame length.
	Body []byte

	received time.Duration // since clockBase; 0 for a command not read from a connection
}

// clockBase is the origin of Command.received: a duration since it takes a third of the
// room of a time.Time and keeps the monotonic clock reading.
var clockBase = time.Now()

// sinceBase returns the monotonic time since clockBase, never zero.
func sinceBase() time.Duration { return max(time.Since(clockBase), 1) }

// ReceivedAt returns when the read that completed the command's frame returned: its
// arrival, before any wait for a worker. It is zero for a command not read from a
// connection. Deadlines carried in a request count from here.
func (c *Command) ReceivedAt() time.Time {
	if c.received == 0 {
		return time.Time{}
	}
	return clockBase.Add(c.received)
}

// NewRequest returns a request with the given code, extFields and body, sent by Go.
func NewRequest(code int32, ext Fields, body []byte) *Command {
	return &Command{Code: code, Language: LanguageGo, Version: DefaultVersion, ExtFields: ext, Body: body}
}

// NewResponse returns a response to req with the given code and remark: same opaque,
// response flag set, same serialization.
func NewResponse(req *Command, code int32, remark string) *Command {
	return &Command{
		Code:      code,
		Language:  LanguageGo,
		Version:   DefaultVersion,
		Opaque:    req.Opaque,
		Flag:      FlagResponse,
		Remark:    remark,
		Serialize: req.Serialize,
	}
}

// IsResponse reports whether the response bit is set.
func (c *Command) IsResponse() bool { return c.Flag&FlagResponse != 0 }

// IsOneway reports whether the oneway bit is set.
func (c *Command) IsOneway() bool { return c.Flag&FlagOneway != 0 }

// String prints the header fields and the body size, for logs.
func (c *Command) String() string {
	var b strings.Builder
	kind := "request"
	if c.IsResponse() {
		kind = "response"
	}
	fmt.Fprintf(&b, "%s{code=%d opaque=%d flag=%d lang=%s version=%d", kind, c.Code, c.Opaque, c.Flag, c.Language, c.Version)
	if c.Remark != "" {
		fmt.Fprintf(&b, " remark=%q", c.Remark)
	}
	if len(c.ExtFields) > 0 {
		b.WriteString(" ext={")
		for i, f := range c.ExtFields {
			if i > 0 {
				b.WriteByte(' ')
			}
			fmt.Fprintf(&b, "%s=%q", f.Key, f.Value)
		}
		b.WriteByte('}')
	}
	fmt.Fprintf(&b, " body=%dB}", len(c.Body))
	return b.String()
}
