package transport

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
)

// DefaultMaxFrameSize is the largest frame accepted by default, counting the 4-byte
// length prefix: 16 MiB, as in RocketMQ (com.rocketmq.remoting.frameMaxLength).
const DefaultMaxFrameSize = 16 << 20

const (
	frameLenSize  = 4 // the length prefix
	frameWordSize = 4 // serialize type byte and 24-bit header length
	maxHeaderSize = 1<<24 - 1
)

var (
	// ErrFrameTooLarge reports a frame whose announced length exceeds the maximum frame
	// size; the connection that carried it is closed.
	ErrFrameTooLarge = errors.New("transport: frame too large")
	// ErrMalformedFrame reports a frame that cannot be decoded; the connection that
	// carried it is closed.
	ErrMalformedFrame = errors.New("transport: malformed frame")
)

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformedFrame, fmt.Sprintf(format, args...))
}

// AppendFrame appends the whole frame of c (length prefix, header word, header in the
// serialization t, body) to dst and returns the extended slice. On error dst is returned
// unchanged in length.
func AppendFrame(dst []byte, c *Command, t SerializeType) ([]byte, error) {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0, 0, 0, 0, 0)
	var err error
	switch t {
	case SerializeJSON:
		dst = appendJSONHeader(dst, c)
	case SerializeRocketMQ:
		dst, err = appendBinaryHeader(dst, c)
	default:
		err = fmt.Errorf("transport: unknown serialize type %d: use SerializeJSON or SerializeRocketMQ", t)
	}
	if err != nil {
		return dst[:start], err
	}
	h := len(dst) - start - frameLenSize - frameWordSize
	if h > maxHeaderSize {
		return dst[:start], fmt.Errorf("%w: a header of %d bytes exceeds the 16 MiB header limit: send fewer or shorter extFields (in rpc, metadata)", ErrFrameTooLarge, h)
	}
	dst = append(dst, c.Body...)
	n := len(dst) - start - frameLenSize
	if n > math.MaxInt32 {
		return dst[:start], fmt.Errorf("%w: %d bytes", ErrFrameTooLarge, n+frameLenSize)
	}
	binary.BigEndian.PutUint32(dst[start:], uint32(n))
	binary.BigEndian.PutUint32(dst[start+frameLenSize:], uint32(t)<<24|uint32(h))
	return dst, nil
}

// ParseFrame decodes the frame at the start of b and returns the command and the
// number of bytes it took. The command's Body aliases b. maxFrame bounds the frame size
// including the length prefix (0 means DefaultMaxFrameSize), checked before anything
// else is read. An incomplete frame returns io.ErrUnexpectedEOF.
func ParseFrame(b []byte, maxFrame int) (*Command, int, error) {
	if len(b) < frameLenSize {
		return nil, 0, io.ErrUnexpectedEOF
	}
	n, err := checkFrameLength(binary.BigEndian.Uint32(b), maxFrame)
	if err != nil {
		return nil, 0, err
	}
	if len(b)-frameLenSize < n {
		return nil, 0, io.ErrUnexpectedEOF
	}
	c := new(Command)
	if err := decodePayload(c, b[frameLenSize:frameLenSize+n], nil); err != nil {
		return nil, 0, err
	}
	return c, frameLenSize + n, nil
}

// checkFrameLength validates a length prefix and returns the payload size it announces.
func checkFrameLength(word uint32, maxFrame int) (int, error) {
	if maxFrame <= 0 {
		maxFrame = DefaultMaxFrameSize
	}
	n := int64(int32(word))
	if n < frameWordSize {
		return 0, malformed("length field %d is below the minimum of %d", n, frameWordSize)
	}
	if n+frameLenSize > int64(maxFrame) {
		return 0, fmt.Errorf("%w: %d bytes announced, the limit is %d (transport.ConnOptions.MaxFrameSize)", ErrFrameTooLarge, n+frameLenSize, maxFrame)
	}
	return int(n), nil
}

// decodePayload decodes the bytes after the length prefix into c. Body aliases p.
// in, when not nil, interns header strings.
func decodePayload(c *Command, p []byte, in *interner) error {
	if len(p) < frameWordSize {
		return malformed("frame of %d bytes has no header length word", len(p))
	}
	word := binary.BigEndian.Uint32(p)
	t := SerializeType(word >> 24)
	h := int(word & maxHeaderSize)
	if h > len(p)-frameWordSize {
		return malformed("bad header length %d in a frame of %d bytes", h, len(p))
	}
	if err := decodeHeader(c, t, p[frameWordSize:frameWordSize+h], in); err != nil {
		return err
	}
	if body := p[frameWordSize+h:]; len(body) > 0 {
		c.Body = body
	}
	return nil
}

// decodeHeader decodes a header of serialization t into c.
func decodeHeader(c *Command, t SerializeType, header []byte, in *interner) error {
	var err error
	switch t {
	case SerializeJSON:
		err = decodeJSONHeader(c, header)
	case SerializeRocketMQ:
		err = decodeBinaryHeader(c, header, in)
	default:
		err = malformed("unknown serialize type %d", t)
	}
	c.Serialize = t
	return err
}
