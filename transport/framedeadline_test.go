package transport

import (
	"io"
	"testing"
	"time"
)

// A frame must come whole within IdleTimeout of its first bytes: a peer that sends its
// body a byte at a time, each well within IdleTimeout of the last, still loses the
// connection (docs/OPERATIONS.md, "Overload and hostile peers").
func TestDribbledFrameHitsIdleTimeout(t *testing.T) {
	const idle = 300 * time.Millisecond
	for _, tc := range []struct {
		name   string
		header bool // the frame stalls in its header, not its body
	}{{"body", false}, {"header", true}} {
		t.Run(tc.name, func(t *testing.T) {
			_, addr := startServer(t, ServerOptions{ConnOptions: ConnOptions{IdleTimeout: idle}}, func(s *Server) {
				must(t, s.RegisterProcessor(codeEcho, echo, PoolOptions{}))
			})
			frame, err := AppendFrame(nil, NewRequest(codeEcho, nil, make([]byte, 1000)), SerializeRocketMQ)
			must(t, err)
			cut := len(frame) - 1000 // the body's first byte
			if tc.header {
				cut = 12
			}
			nc := rawDial(t, addr)
			begin := time.Now()
			_, err = nc.Write(frame[:cut])
			must(t, err)
			closed := make(chan time.Duration, 1)
			go func() {
				io.Copy(io.Discard, nc) // the server sends nothing; it returns as it closes
				closed <- time.Since(begin)
			}()
			tick := time.NewTicker(idle / 6) // paces the peer: one byte each tick
			defer tick.Stop()
			for i := cut; i < len(frame)-1; i++ {
				select {
				case d := <-closed:
					if d < idle || d > 2*idle+time.Second {
						t.Fatalf("closed %v after the frame began, want IdleTimeout (%v) to a little more", d, idle)
					}
					return
				case <-tick.C:
					nc.Write(frame[i : i+1])
				}
			}
			t.Fatalf("the whole frame but a byte came a byte at a time over %v, IdleTimeout %v, and the connection is open", time.Since(begin), idle)
		})
	}
}

// Frames that each come whole in time keep a connection open however long it lives.
func TestSteadyFramesKeepConnection(t *testing.T) {
	const idle = time.Second
	_, addr := startServer(t, ServerOptions{ConnOptions: ConnOptions{IdleTimeout: idle}}, func(s *Server) {
		must(t, s.RegisterProcessor(codeEcho, echo, PoolOptions{}))
	})
	frame, err := AppendFrame(nil, NewRequest(codeEcho, nil, make([]byte, 100)), SerializeRocketMQ)
	must(t, err)
	nc := rawDial(t, addr)
	tick := time.NewTicker(idle / 10)
	defer tick.Stop()
	for i := range 15 { // 3 × IdleTimeout, each frame in two halves
		<-tick.C
		_, err := nc.Write(frame[:len(frame)/2])
		must(t, err)
		<-tick.C
		_, err = nc.Write(frame[len(frame)/2:])
		must(t, err)
		if r := readRawFrame(t, nc); r.Code != CodeSuccess {
			t.Fatalf("frame %d answered %d", i, r.Code)
		}
	}
}
