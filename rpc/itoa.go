package rpc

import (
	"encoding/binary"
	"math/bits"
)

// appendUint appends the decimal digits of u, as strconv.AppendUint(dst, u, 10)
// does, eight digits at a time: strconv makes two digits a step, and an integer of
// 19 digits (a Unix time in nanoseconds, an ID) took as long as a short string.
func appendUint(dst []byte, u uint64) []byte {
	if u < 10 {
		return append(dst, byte('0'+u))
	}
	if u < 1e8 {
		return appendLead(dst, eightDigits8(uint32(u)))
	}
	if u < 1e16 {
		dst = appendLead(dst, eightDigits8(uint32(u/1e8)))
		return binary.LittleEndian.AppendUint64(dst, eightDigits8(uint32(u%1e8))|lsbs*'0')
	}
	dst = appendLead(dst, eightDigits8(uint32(u/1e16)))
	dst = binary.LittleEndian.AppendUint64(dst, eightDigits8(uint32(u/1e8%1e8))|lsbs*'0')
	return binary.LittleEndian.AppendUint64(dst, eightDigits8(uint32(u%1e8))|lsbs*'0')
}

// appendInt appends the decimal digits of v with its sign, as strconv.AppendInt(dst,
// v, 10) does.
func appendInt(dst []byte, v int64) []byte {
	if v < 0 {
		return appendUint(append(dst, '-'), -uint64(v))
	}
	return appendUint(dst, uint64(v))
}

// appendLead appends the digits of d, eight digits from eightDigits8 of a value that
// is not 0, without its leading zeros.
func appendLead(dst []byte, d uint64) []byte {
	zeros := bits.TrailingZeros64(d) / 8 // the first digit is the lowest byte
	n := len(dst)
	return binary.LittleEndian.AppendUint64(dst, (d>>(8*zeros))|lsbs*'0'>>(8*zeros))[:n+8-zeros]
}

// eightDigits8 returns the eight decimal digits of v, which is below 1e8, as the
// values 0 to 9 in the bytes of a word, the first digit in the lowest byte: adding
// lsbs*'0' makes them ASCII, to be stored little-endian.
func eightDigits8(v uint32) uint64 {
	// Each step splits every lane in two, high part in the lower half: 10486/2^20 is
	// 1/100 for lanes below 10000, and 103/2^10 is 1/10 for lanes below 100. No lane's
	// product reaches the next lane.
	x := uint64(v/10000) | uint64(v%10000)<<32
	q := (x * 10486 >> 20) & 0x0000007f_0000007f
	x = q | (x-q*100)<<16
	q = (x * 103 >> 10) & 0x000f000f_000f000f
	return q | (x-q*10)<<8
}
