package transport

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// announcing returns the start of a request frame that announces the largest frame:
// with a whole small header and no byte of its body, or, with bigHeader set, only
// the first 8 bytes, announcing a header of nearly 16 MiB.
func announcing(t testing.TB, bigHeader bool) []byte {
	t.Helper()
	announce := DefaultMaxFrameSize - frameLenSize
	if bigHeader {
		f := binary.BigEndian.AppendUint32(nil, uint32(announce))
		return binary.BigEndian.AppendUint32(f, uint32(SerializeRocketMQ)<<24|uint32(announce-frameWordSize))
	}
	f, err := AppendFrame(nil, NewRequest(codeEcho, nil, nil), SerializeRocketMQ)
	must(t, err)
	binary.BigEndian.PutUint32(f, uint32(announce))
	return f
}

// Peers that announce the largest frames and stall hold what they sent, plus less
// than a piece, not what they announced: 17 of them used to take the whole default
// MaxFrameMemory with a few hundred bytes, and a good caller's large call, then the
// small ones behind it on its connection, waited for IdleTimeout.
func TestStalledAnnouncementsHoldWhatTheySent(t *testing.T) {
	const peers = 17
	for _, bigHeader := range []bool{false, true} {
		t.Run(fmt.Sprintf("header announced %v", bigHeader), func(t *testing.T) {
			s, addr := startServer(t, ServerOptions{}, func(s *Server) {
				must(t, s.RegisterProcessor(codeEcho, echo, PoolOptions{}))
			})
			frame := announcing(t, bigHeader)
			for range peers {
				nc := rawDial(t, addr)
				_, err := nc.Write(frame)
				must(t, err)
			}
			// Each reader charges the first piece before its bytes arrive.
			waitUntil(t, func() bool { return s.cfg.frames.used.Load() >= peers*firstChunk })
			if used := s.cfg.frames.used.Load(); used > peers*firstChunk {
				t.Errorf("%d peers that sent %d bytes each hold %d KiB of MaxFrameMemory, want at most %d KiB", peers, len(frame), used>>10, peers*firstChunk>>10)
			}
			cl := newTestClient(t, ClientOptions{})
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			if _, err := cl.InvokeSync(ctx, addr, NewRequest(codeEcho, nil, make([]byte, 64<<10))); err != nil {
				t.Errorf("a good 64 KiB call beside %d stalled peers: %v", peers, err)
			}
			ctx2, cancel2 := context.WithTimeout(context.Background(), time.Second)
			defer cancel2()
			if _, err := cl.InvokeSync(ctx2, addr, NewRequest(codeEcho, nil, []byte("small"))); err != nil {
				t.Errorf("a small call after it on the same connection: %v", err)
			}
		})
	}
}

// Large frames that together need several times MaxFrameMemory, each read in part
// before the others go on, all complete: readers that each hold part of what they
// need never wait for one another for ever. Memory stays under the budget plus one
// frame's charge, and all of it goes back.
func TestConcurrentLargeFramesAllComplete(t *testing.T) {
	const (
		budget = 4 << 20
		peers  = 8
		body   = 3 << 20 // 24 MiB in all, six times the budget
		early  = firstChunk + 2*firstChunk + 4*firstChunk + 8*firstChunk
	)
	var most atomic.Int64
	s, addr := startServer(t, ServerOptions{ConnOptions: ConnOptions{MaxFrameMemory: budget, IdleTimeout: 20 * time.Second}}, func(s *Server) {
		must(t, s.RegisterProcessor(codeEcho, ProcessorFunc(func(_ context.Context, _ *Conn, req *Command) (*Command, error) {
			return NewResponse(req, CodeSuccess, strconv.Itoa(len(req.Body))), nil
		}), PoolOptions{}))
	})
	s.cfg.bodyRead = func(got, _ int) {
		if u := s.cfg.frames.used.Load(); u > most.Load() {
			most.Store(u) // the reader alone writes it per connection; a race only lowers the figure
		}
	}
	frame, err := AppendFrame(nil, NewRequest(codeEcho, nil, make([]byte, body)), SerializeRocketMQ)
	must(t, err)
	split := len(frame) - body + early
	var ncs []net.Conn
	for range peers {
		nc := rawDial(t, addr)
		_, err := nc.Write(frame[:split])
		must(t, err)
		ncs = append(ncs, nc)
	}
	// The first readers fill the budget with parts of their frames; the others wait.
	waitUntil(t, func() bool { return s.cfg.frames.used.Load() >= budget-lastChunk })
	var wg sync.WaitGroup
	errs := make(chan error, peers)
	for _, nc := range ncs {
		wg.Go(func() {
			if _, err := nc.Write(frame[split:]); err != nil {
				errs <- err
			}
		})
	}
	for i, nc := range ncs {
		if r := readRawFrame(t, nc); r.Remark != strconv.Itoa(body) {
			t.Errorf("peer %d: answered %q, want the body's length %d", i+1, r.Remark, body)
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	waitUntil(t, func() bool { return s.cfg.frames.used.Load() == 0 })
	// One frame may finish beyond the budget: its charge is its body and a piece's
	// rounding, the header being small.
	if limit := int64(budget + body); most.Load() > limit {
		t.Errorf("MaxFrameMemory of %d bytes held %d at most, want at most %d", budget, most.Load(), limit)
	}
	t.Logf("%d frames of %d MiB, budget %d MiB: at most %d KiB held", peers, body>>20, budget>>20, most.Load()>>10)
}

// manyFieldsFrame returns a request frame whose header of about size bytes holds
// extFields of distinct 4-byte keys with empty values, in serialization typ.
func manyFieldsFrame(code int32, typ SerializeType, size int) []byte {
	const alpha = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"
	key := func(i int) []byte { return []byte{alpha[i&63], alpha[i>>6&63], alpha[i>>12&63], alpha[i>>18&63]} }
	var h []byte
	if typ == SerializeJSON {
		h = append(h, `{"code":`+strconv.Itoa(int(code))+`,"flag":0,"opaque":1,"extFields":{`...)
		for i := range (size - 48) / 10 {
			if i > 0 {
				h = append(h, ',')
			}
			h = append(append(append(h, '"'), key(i)...), `":""`...)
		}
		h = append(h, "}}"...)
	} else {
		var ext []byte
		for i := range (size - binaryFixedSize) / 10 {
			ext = append(append(append(ext, 0, 4), key(i)...), 0, 0, 0, 0)
		}
		h = binary.BigEndian.AppendUint16(h, uint16(code))
		h = append(h, byte(LanguageGo), 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0)
		h = binary.BigEndian.AppendUint32(h, uint32(len(ext)))
		h = append(h, ext...)
	}
	return rawFrame(typ, h, nil)
}

// A large header is charged what its decoded fields hold, not its size on the wire:
// 4-byte keys take 10 bytes on the wire and some 36 once decoded. The heap that
// requests with such headers hold while their handlers run stays within what they
// are charged.
func TestLargeHeaderIsChargedWhatItHolds(t *testing.T) {
	const peers = 4
	size := 8 << 20
	if raceBuild {
		size = 1 << 20 // slower, and its memory not asserted
	}
	for _, typ := range []SerializeType{SerializeRocketMQ, SerializeJSON} {
		t.Run(typ.String(), func(t *testing.T) {
			var started, ended atomic.Int32
			release := make(chan struct{})
			defer close(release)
			s, addr := startServer(t, ServerOptions{}, func(s *Server) {
				must(t, s.RegisterProcessor(codeBlock, ProcessorFunc(func(ctx context.Context, _ *Conn, req *Command) (*Command, error) {
					started.Add(1)
					<-release
					ended.Add(1)
					return NewResponse(req, CodeSuccess, ""), nil
				}), PoolOptions{Workers: peers}))
			})
			frame := manyFieldsFrame(codeBlock, typ, size)
			before := heapInUse()
			for range peers {
				nc := rawDial(t, addr)
				_, err := nc.Write(frame)
				must(t, err)
			}
			waitUntil(t, func() bool { return started.Load() == peers })
			grew := max(heapInUse(), before) - before
			charged := s.cfg.frames.used.Load()
			t.Logf("%d requests with %d MiB headers: charged %d MiB, heap grew %d MiB", peers, size>>20, charged>>20, grew>>20)
			if grew > uint64(charged)+(16<<20) && !raceBuild { // the race detector adds to every allocation
				t.Errorf("%d requests with %d-byte headers held: %d MiB charged to MaxFrameMemory, the heap grew by %d MiB", peers, size, charged>>20, grew>>20)
			}
			runtime.KeepAlive(frame)
		})
	}
}

// Whatever becomes of a frame, read, cut short or rejected, what it took of
// MaxFrameMemory goes back once it is done with, and the budget's lane is free again;
// a frame larger than the budget is read through the lane, without waiting.
func TestFrameChargeGoesBack(t *testing.T) {
	const budget = 64 << 10
	bigJSON := manyFieldsFrame(codeEcho, SerializeJSON, 100<<10)
	bigBinary := manyFieldsFrame(codeEcho, SerializeRocketMQ, 100<<10)
	withBody := rawFrame(SerializeRocketMQ, rawPing(1, "k", "v"), make([]byte, 300<<10))
	badJSON := rawFrame(SerializeJSON, append([]byte(`{"code":1,"remark":"`), make([]byte, 100<<10)...), nil)
	for _, tc := range []struct {
		name string
		in   []byte
		ok   bool
	}{
		{"ROCKETMQ header of 100 KiB", bigBinary, true},
		{"JSON header of 100 KiB", bigJSON, true},
		{"body of 300 KiB", withBody, true},
		{"body cut short", withBody[:len(withBody)-1], false},
		{"header cut short", bigBinary[:len(bigBinary)-1], false},
		{"bad JSON header of 100 KiB", badJSON, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			frames := newByteBudget(budget, "a frame", "testing")
			c := &Conn{cfg: &connConfig{maxFrame: DefaultMaxFrameSize, frames: frames, idle: time.Second}, closingCh: make(chan struct{})}
			var in interner
			cmd, charged, err := c.readFrame(bufio.NewReader(bytes.NewReader(tc.in)), &in)
			if (err == nil) != tc.ok {
				t.Fatalf("readFrame: %v", err)
			}
			if err == nil && charged != frames.used.Load() {
				t.Errorf("readFrame returned a charge of %d, the budget holds %d", charged, frames.used.Load())
			}
			if cmd != nil && len(cmd.ExtFields) > 100 && charged < int64(len(cmd.ExtFields))*32 {
				t.Errorf("%d fields charged %d bytes", len(cmd.ExtFields), charged)
			}
			frames.give(charged)
			if u := frames.used.Load(); u != 0 || frames.lane.Load() {
				t.Errorf("once the frame is done with the budget holds %d bytes, lane taken %v; want 0, free", u, frames.lane.Load())
			}
		})
	}
}
