package transport

import (
	"encoding/binary"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"
)

// rawPing is a ROCKETMQ header of a ping with the fields given, key and value.
func rawPing(opaque int32, kv ...string) []byte {
	var h []byte
	h = binary.BigEndian.AppendUint16(h, uint16(codePing))
	h = append(h, byte(LanguageGo))
	h = binary.BigEndian.AppendUint16(h, 479)
	h = binary.BigEndian.AppendUint32(h, uint32(opaque))
	h = binary.BigEndian.AppendUint32(h, 0)
	h = binary.BigEndian.AppendUint32(h, 0) // no remark
	var e []byte
	for i := 0; i+1 < len(kv); i += 2 {
		e = binary.BigEndian.AppendUint16(e, uint16(len(kv[i])))
		e = append(e, kv[i]...)
		e = binary.BigEndian.AppendUint32(e, uint32(len(kv[i+1])))
		e = append(e, kv[i+1]...)
	}
	h = binary.BigEndian.AppendUint32(h, uint32(len(e)))
	return append(h, e...)
}

func heapNow() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

// A frame's header is bounded as its body is: a large header is read in growing
// pieces, each charged to MaxFrameMemory before it is read, so a frame that stalls
// holds what it sent and the piece it waits for, and headers that stall hold at most
// the budget and one frame; a connection keeps nothing of
// a large header once it is done with, neither a buffer nor, through the slabs its
// small headers are carved from, its strings.
func TestLargeHeadersAreBounded(t *testing.T) {
	const budget = 16 << 20
	huge := 16<<20 - 16
	// All of a 16 MiB header but its last byte, made once: the heap measured is
	// the server's, in this process too.
	almost := binary.BigEndian.AppendUint32(nil, uint32(4+huge))
	almost = binary.BigEndian.AppendUint32(almost, uint32(SerializeRocketMQ)<<24|uint32(huge))
	almost = append(almost, make([]byte, huge-1)...)
	for _, tc := range []struct {
		name    string
		opts    ConnOptions
		conns   int
		send    func(i int, nc net.Conn) // what each connection sends
		charged int64                    // what the server's budget holds once it read it
		limit   int64                    // the heap it may add, all connections together
	}{
		{"stalled after 11 bytes of a 16 MiB header", ConnOptions{}, 12, func(_ int, nc net.Conn) {
			nc.Write(almost[:11])
		}, 12 * firstChunk, 8 << 20},
		{"stalled before the last byte of a 16 MiB header", ConnOptions{MaxFrameMemory: budget}, 6, func(_ int, nc net.Conn) {
			go nc.Write(almost) // the others' wait for the budget
		}, int64(huge), 2 * budget},
		{"pings of a 1 MiB header each, answered", ConnOptions{}, 16, func(i int, nc net.Conn) {
			nc.Write(rawFrame(SerializeRocketMQ, rawPing(int32(i+1), "pad", strings.Repeat("x", 1<<20)), nil))
			readRawFrame(t, nc)
		}, 0, 16 * 256 << 10},
		{"40 pings of a 4 MiB field each, answered", ConnOptions{}, 1, func(_ int, nc net.Conn) {
			big := strings.Repeat("x", 4<<20)
			for i := range 40 {
				nc.Write(rawFrame(SerializeRocketMQ, rawPing(int32(i+1), "pad", big), nil))
				readRawFrame(t, nc)
			}
		}, 0, 8 << 20},
		{"12 pings of nine fields, one of 4 MiB, answered", ConnOptions{}, 1, func(_ int, nc net.Conn) {
			kv := []string{"pad", strings.Repeat("x", 4<<20)}
			for i := range 8 {
				kv = append(kv, "k"+string(rune('a'+i)), "v")
			}
			for i := range 12 {
				nc.Write(rawFrame(SerializeRocketMQ, rawPing(int32(i+1), kv...), nil))
				readRawFrame(t, nc)
			}
		}, 0, 8 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, addr := startServer(t, ServerOptions{ConnOptions: tc.opts}, nil)
			before := heapNow()
			var ncs []net.Conn
			for i := range tc.conns {
				nc := rawDial(t, addr)
				tc.send(i, nc)
				ncs = append(ncs, nc)
			}
			// A stalled header's piece is charged before its bytes are read.
			waitUntil(t, func() bool { return s.cfg.frames.used.Load() >= tc.charged })
			if grew := heapNow() - before; grew > tc.limit {
				t.Errorf("the heap grew by %d KiB, want at most %d KiB", grew>>10, tc.limit>>10)
			}
			runtime.KeepAlive(ncs)
			runtime.KeepAlive(almost)
		})
	}
}

// A large header's charge goes back once its frame is done with, whatever the frame:
// a stream frame without a body holds nothing, and a body as large as the budget
// does not wait for its own header: the frame takes the budget's lane to finish.
func TestLargeHeaderChargesGoBack(t *testing.T) {
	const budget = 1 << 20
	pad := strings.Repeat("x", 80<<10) // over the 64 KiB read buffer
	for _, tc := range []struct {
		name  string
		frame []byte
	}{
		{"stream frames without a body", func() []byte {
			var b []byte
			for i := range 10 {
				h := rawPing(int32(100+i), fieldStreamID, "12345", "pad", pad)
				binary.BigEndian.PutUint16(h, uint16(codeStreamUp))
				b = append(b, rawFrame(SerializeRocketMQ, h, nil)...)
			}
			return b
		}()},
		{"a ping whose body takes the whole budget", rawFrame(SerializeRocketMQ, rawPing(2, "pad", pad), make([]byte, budget))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, addr := startServer(t, ServerOptions{ConnOptions: ConnOptions{MaxFrameMemory: budget, IdleTimeout: 10 * time.Second}}, nil)
			nc := rawDial(t, addr)
			go nc.Write(append(tc.frame, rawFrame(SerializeRocketMQ, rawPing(1), nil)...))
			for got := readRawFrame(t, nc); got.Opaque != 1; got = readRawFrame(t, nc) {
			}
			if u := s.cfg.frames.used.Load(); u != 0 {
				t.Errorf("MaxFrameMemory holds %d bytes once the frames are done with, want 0", u)
			}
			if u := s.cfg.streams.mem.used.Load(); u != 0 {
				t.Errorf("MaxStreamMemory holds %d bytes, want 0", u)
			}
		})
	}
}
