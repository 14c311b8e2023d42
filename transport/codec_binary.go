package transport

import (
	"encoding/binary"
	"fmt"
	"math"
)

// binaryFixedSize is the fixed part of a ROCKETMQ header: code, language, version,
// opaque, flag, remark length and extFields length.
const binaryFixedSize = 2 + 1 + 2 + 4 + 4 + 4 + 4

func appendBinaryHeader(dst []byte, c *Command) ([]byte, error) {
	if c.Code < math.MinInt16 || c.Code > math.MaxInt16 {
		return dst, fmt.Errorf("transport: code %d does not fit the ROCKETMQ header's 16 bits: use a smaller code or SerializeJSON", c.Code)
	}
	dst = binary.BigEndian.AppendUint16(dst, uint16(int16(c.Code)))
	dst = append(dst, byte(c.Language))
	dst = binary.BigEndian.AppendUint16(dst, uint16(int16(c.Version)))
	dst = binary.BigEndian.AppendUint32(dst, uint32(c.Opaque))
	dst = binary.BigEndian.AppendUint32(dst, uint32(c.Flag))
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(c.Remark)))
	dst = append(dst, c.Remark...)
	lenAt := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	if len(c.ExtFields) > 0 {
		for _, f := range c.ExtFields {
			k, v := f.Key, f.Value
			if len(k) > math.MaxInt16 {
				return dst, fmt.Errorf("transport: extFields key of %d bytes exceeds the ROCKETMQ header's limit of %d", len(k), math.MaxInt16)
			}
			dst = binary.BigEndian.AppendUint16(dst, uint16(len(k)))
			dst = append(dst, k...)
			dst = binary.BigEndian.AppendUint32(dst, uint32(len(v)))
			dst = append(dst, v...)
		}
	}
	binary.BigEndian.PutUint32(dst[lenAt:], uint32(len(dst)-lenAt-4))
	return dst, nil
}

// binaryReader walks a ROCKETMQ header, bounds-checking every read.
type binaryReader struct {
	b   []byte
	off int
	err error
}

func (r *binaryReader) take(n int, what string) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.b)-r.off {
		r.err = malformed("ROCKETMQ header: %s of %d bytes at offset %d overruns the %d-byte header", what, n, r.off, len(r.b))
		return nil
	}
	s := r.b[r.off : r.off+n]
	r.off += n
	return s
}

func (r *binaryReader) u16(what string) uint16 {
	if s := r.take(2, what); s != nil {
		return binary.BigEndian.Uint16(s)
	}
	return 0
}

func (r *binaryReader) u32(what string) uint32 {
	if s := r.take(4, what); s != nil {
		return binary.BigEndian.Uint32(s)
	}
	return 0
}

func decodeBinaryHeader(c *Command, h []byte, in *interner) error {
	r := binaryReader{b: h}
	if len(h) < binaryFixedSize {
		return malformed("ROCKETMQ header of %d bytes is shorter than its fixed %d", len(h), binaryFixedSize)
	}
	c.Code = int32(int16(r.u16("code")))
	c.Language = LanguageCode(r.take(1, "language")[0])
	c.Version = int32(int16(r.u16("version")))
	c.Opaque = int32(r.u32("opaque"))
	c.Flag = int32(r.u32("flag"))
	c.Remark = in.string(r.take(int(int32(r.u32("remark length"))), "remark"))
	ext := r.take(int(int32(r.u32("extFields length"))), "extFields")
	if r.err != nil {
		return r.err
	}
	return decodeBinaryExt(c, ext, in)
}

// decodeBinaryExt decodes extFields entries: a 16-bit key length, the key, a 32-bit
// value length, the value. A handful of entries collect on the stack first, so that
// the command gets them in one allocation of the right size. A large header (no
// interner) gets a slice of exactly its number of entries, counted first: growing one
// by doubling would take up to three times what it keeps.
func decodeBinaryExt(c *Command, ext []byte, in *interner) error {
	if in == nil && len(ext) > bigHeader {
		fs, err := appendBinaryExt(make(Fields, 0, binaryExtEntries(ext)), ext, nil)
		if len(fs) > 0 {
			c.ExtFields = fs
		}
		return err
	}
	var local [8]Field
	fs, err := appendBinaryExt(Fields(local[:0]), ext, in)
	if len(fs) > 0 {
		c.ExtFields = in.fields(fs)
	}
	return err
}

// appendBinaryExt appends the entries of ext to fs.
func appendBinaryExt(fs Fields, ext []byte, in *interner) (Fields, error) {
	for off := 0; off < len(ext); {
		if len(ext)-off < 2 {
			return nil, malformed("ROCKETMQ header: extFields key length cut off at offset %d of the %d-byte extFields", off, len(ext))
		}
		k := int(int16(binary.BigEndian.Uint16(ext[off:])))
		off += 2
		if k < 0 || k > len(ext)-off {
			return nil, malformed("ROCKETMQ header: extFields key of %d bytes at offset %d overruns the %d-byte extFields", k, off, len(ext))
		}
		key := ext[off : off+k]
		off += k
		if len(ext)-off < 4 {
			return nil, malformed("ROCKETMQ header: extFields value length cut off at offset %d of the %d-byte extFields", off, len(ext))
		}
		v := int(int32(binary.BigEndian.Uint32(ext[off:])))
		off += 4
		if v < 0 || v > len(ext)-off {
			return nil, malformed("ROCKETMQ header: extFields value of %d bytes at offset %d overruns the %d-byte extFields", v, off, len(ext))
		}
		i := len(fs)
		fs = append(fs, Field{in.at(2*i, key), in.at(2*i+1, ext[off:off+v])})
		off += v
	}
	return fs, nil
}

// binaryEntries counts the extFields entries of a ROCKETMQ header, up to the first
// that is malformed, without allocating.
func binaryEntries(h []byte) int {
	const remarkAt = binaryFixedSize - 8 // after code, language, version, opaque, flag
	if len(h) < binaryFixedSize {
		return 0
	}
	r := int(int32(binary.BigEndian.Uint32(h[remarkAt:])))
	if r < 0 || r > len(h)-binaryFixedSize {
		return 0
	}
	off := remarkAt + 4 + r
	n := int(int32(binary.BigEndian.Uint32(h[off:])))
	if off += 4; n < 0 || n > len(h)-off {
		return 0
	}
	return binaryExtEntries(h[off : off+n])
}

// binaryExtEntries counts the entries of extFields, up to the first that is
// malformed.
func binaryExtEntries(ext []byte) int {
	entries := 0
	for off := 0; len(ext)-off >= 2; entries++ {
		k := int(int16(binary.BigEndian.Uint16(ext[off:])))
		if off += 2; k < 0 || k > len(ext)-off-4 {
			break
		}
		off += k
		v := int(int32(binary.BigEndian.Uint32(ext[off:])))
		if off += 4; v < 0 || v > len(ext)-off {
			break
		}
		off += v
	}
	return entries
}
