package transport

import (
	"fmt"
	"strconv"
)

// Stream frames (docs/PROTOCOL.md, "Streams"). A stream is opened by a request with
// flagStream set; every later message, grant, end and reset of it travels as a oneway
// request of codeStreamUp (from the side that opened it) or codeStreamDown (from the
// side that accepted it), naming the stream by the opening request's opaque. The
// stream ends with the response to the opening request.
const (
	// codeStreamUp carries a frame of a stream from its opener to its acceptor.
	codeStreamUp int32 = 7703
	// codeStreamDown carries a frame of a stream from its acceptor to its opener.
	codeStreamDown int32 = 7704
	// flagStream marks a request that opens a stream. RocketMQ defines flag bits 0
	// and 1 only; its peers ignore this one.
	flagStream int32 = 1 << 2
)

// The extFields of stream frames and of an opening request.
const (
	fieldStreamID     = "ringrpc.sid"    // the opening request's opaque
	fieldStreamSeq    = "ringrpc.seq"    // a message's number, from 1 in each direction
	fieldStreamCount  = "ringrpc.count"  // messages in the body, each after its length
	fieldStreamFlags  = "ringrpc.flags"  // streamEnd | streamReset | streamExpired
	fieldStreamCredit = "ringrpc.credit" // more messages the sender of the frame will take
	fieldStreamWindow = "ringrpc.window" // on the opening request: the opener's window
)

// The bits of fieldStreamFlags.
const (
	// streamEnd: the sender sends no more messages on the stream (the opener only).
	streamEnd = 1 << iota
	// streamReset: the opener abandons the stream; the acceptor ends its handler.
	streamReset
	// streamExpired, with streamReset: the opener's deadline passed; the handler's
	// context ends with context.DeadlineExceeded rather than context.Canceled.
	streamExpired
)

func isStreamFrame(code int32) bool { return code == codeStreamUp || code == codeStreamDown }

// streamBatch bounds the bytes of messages a stream gathers for one frame: a frame
// carries hundreds of small messages, and a stream whose connection is slow holds
// little.
const streamBatch = 16 << 10

// headerRoom is the room left for a frame's header: what a stream message leaves of
// MaxFrameSize, and what a write buffer makes room for besides a body (a longer
// header has append grow the buffer).
const headerRoom = 512

// maxStreamWindow bounds a window and a single grant: more would let a peer make a
// receiver promise more memory than any configuration does.
const maxStreamWindow = 1 << 20

// streamFrame is what a stream frame says, decoded from its extFields; its body, when
// it carries a message, is the command's.
type streamFrame struct {
	id     int32
	seq    int64 // the (first) message's number; 0 when the frame carries none
	count  int32 // messages in the body, each after its length; 0: the body is one
	flags  int
	credit int32 // 0 when the frame grants none
}

func (f streamFrame) end() bool   { return f.flags&streamEnd != 0 }
func (f streamFrame) reset() bool { return f.flags&streamReset != 0 }

// expired reports a reset sent because the opener's deadline passed.
func (f streamFrame) expired() bool {
	return f.flags&(streamReset|streamExpired) == streamReset|streamExpired
}

// parseStreamFrame decodes a stream frame's fields. It never panics and allocates only
// for an error; unknown fields and unknown flag bits are ignored.
func parseStreamFrame(cmd *Command) (streamFrame, error) {
	var f streamFrame
	id, ok := cmd.ExtFields.Lookup(fieldStreamID)
	if !ok {
		return f, fmt.Errorf("stream frame without %s", fieldStreamID)
	}
	n, err := strconv.ParseInt(id, 10, 32)
	if err != nil {
		return f, fmt.Errorf("stream frame: %s %q is not a 32-bit decimal", fieldStreamID, id)
	}
	f.id = int32(n)
	if v, ok := cmd.ExtFields.Lookup(fieldStreamSeq); ok {
		if f.seq, err = strconv.ParseInt(v, 10, 64); err != nil || f.seq < 1 {
			return f, fmt.Errorf("stream frame: %s %q is not a positive decimal", fieldStreamSeq, v)
		}
	}
	if v, ok := cmd.ExtFields.Lookup(fieldStreamCount); ok {
		n, err := strconv.ParseInt(v, 10, 32)
		if err != nil || n < 1 || n > maxStreamWindow || f.seq == 0 {
			return f, fmt.Errorf("stream frame: %s %q is not a decimal from 1 to %d after a %s", fieldStreamCount, v, maxStreamWindow, fieldStreamSeq)
		}
		f.count = int32(n)
	}
	if v, ok := cmd.ExtFields.Lookup(fieldStreamFlags); ok {
		n, err := strconv.ParseInt(v, 10, 32)
		if err != nil || n < 0 {
			return f, fmt.Errorf("stream frame: %s %q is not a decimal bit set", fieldStreamFlags, v)
		}
		f.flags = int(n)
	}
	if v, ok := cmd.ExtFields.Lookup(fieldStreamCredit); ok {
		n, err := strconv.ParseInt(v, 10, 32)
		if err != nil || n < 1 || n > maxStreamWindow {
			return f, fmt.Errorf("stream frame: %s %q is not a decimal from 1 to %d", fieldStreamCredit, v, maxStreamWindow)
		}
		f.credit = int32(n)
	}
	return f, nil
}

// parseWindow reads the window of an opening request: the messages the opener takes
// before its first grant.
func parseWindow(req *Command) (int32, error) {
	v, ok := req.ExtFields.Lookup(fieldStreamWindow)
	if !ok {
		return 0, fmt.Errorf("a stream's opening request needs %s, the messages its opener takes before it grants more", fieldStreamWindow)
	}
	n, err := strconv.ParseInt(v, 10, 32)
	if err != nil || n < 1 || n > maxStreamWindow {
		return 0, fmt.Errorf("%s %q of a stream's opening request is not a decimal from 1 to %d", fieldStreamWindow, v, maxStreamWindow)
	}
	return int32(n), nil
}

// messages returns how many messages the frame carries.
func (f streamFrame) messages() int32 {
	switch {
	case f.seq == 0:
		return 0
	case f.count == 0:
		return 1
	}
	return f.count
}

// msgLenSize is the size of the length before each message of a frame that carries
// several.
const msgLenSize = 4

// splitMessages cuts body, which carries n messages each after its length as a
// 4-byte big-endian number, into the messages, each capped at its own length so
// that nobody appending to one writes over the next. It fails unless body holds
// exactly n messages.
func splitMessages(body []byte, n int32, out [][]byte) ([][]byte, error) {
	if int64(n)*msgLenSize > int64(len(body)) {
		return out, fmt.Errorf("%d messages need at least %d bytes, the body has %d", n, int64(n)*msgLenSize, len(body))
	}
	for i := int32(0); i < n; i++ {
		if len(body) < msgLenSize {
			return out, fmt.Errorf("message %d of %d: the body ends before its length", i+1, n)
		}
		l := beUint32(body)
		if uint64(l) > uint64(len(body)-msgLenSize) {
			return out, fmt.Errorf("message %d of %d: %d bytes announced, %d left in the body", i+1, n, l, len(body)-msgLenSize)
		}
		end := msgLenSize + int(l)
		out = append(out, body[msgLenSize:end:end])
		body = body[end:]
	}
	if len(body) > 0 {
		return out, fmt.Errorf("%d bytes after the last of %d messages", len(body), n)
	}
	return out, nil
}
