package transport

import (
	"testing"
)

// FuzzStreamFrame feeds arbitrary frames to a stream's frame decoding and to a
// stream's state: decoding never panics, what it accepts survives a re-encode, and a
// stream never holds more messages than its window, whatever a peer sends.
func FuzzStreamFrame(f *testing.F) {
	seed := func(fs ...*Command) []byte {
		var b []byte
		for _, c := range fs {
			b, _ = AppendFrame(b, c, SerializeRocketMQ)
		}
		return b
	}
	msg := func(seq string) *Command {
		return &Command{Code: codeStreamUp, Flag: FlagOneway, ExtFields: Fields{{fieldStreamID, "7"}, {fieldStreamSeq, seq}}, Body: []byte(`{"id":1}`)}
	}
	f.Add(seed(msg("1"), msg("2"), msg("3")))
	f.Add(seed(msg("1"), msg("3")))
	f.Add(seed(msg("1"), msg("2"), msg("3"), msg("4"), msg("5")))
	batch := func(seq, count string, body []byte) *Command {
		return &Command{Code: codeStreamUp, Flag: FlagOneway, ExtFields: Fields{{fieldStreamID, "7"}, {fieldStreamSeq, seq}, {fieldStreamCount, count}}, Body: body}
	}
	f.Add(seed(batch("1", "2", []byte("\x00\x00\x00\x01a\x00\x00\x00\x02bc")), msg("3")))
	f.Add(seed(batch("1", "3", []byte("\x00\x00\x00\x01a\x00\x00\x00\x00\x00\x00\x00\x01b")), batch("4", "2", []byte("\x00\x00\x00\x01a\x00\x00\x00\x09b"))))
	f.Add(seed(batch("1", "5", []byte("\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"))))
	f.Add(seed(&Command{Code: codeStreamDown, ExtFields: Fields{{fieldStreamID, "7"}, {fieldStreamCredit, "64"}}}))
	f.Add(seed(&Command{Code: codeStreamUp, ExtFields: Fields{{fieldStreamID, "7"}, {fieldStreamFlags, "3"}, {fieldStreamCredit, "1048577"}}}))
	f.Add(seed(&Command{Code: codeStreamUp, ExtFields: Fields{{fieldStreamID, "-1"}, {fieldStreamSeq, "0"}}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		const window = 4
		c := &Conn{addr: "fuzz", cfg: newConnConfig(ConnOptions{}, serverPermits)}
		s := newStream(c, false, window)
		for len(b) > 0 {
			cmd, n, err := ParseFrame(b, 1<<20)
			if err != nil {
				return
			}
			b = b[n:]
			fr, err := parseStreamFrame(cmd)
			if err != nil {
				continue
			}
			again, err := AppendFrame(nil, cmd, cmd.Serialize)
			if err != nil {
				t.Fatal(err)
			}
			cmd2, _, err := ParseFrame(again, 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			if fr2, err := parseStreamFrame(cmd2); err != nil || fr2 != fr {
				t.Fatalf("re-encoded %+v reads as %+v, %v", fr, fr2, err)
			}
			if fr.id != 7 || s.ended {
				continue
			}
			charge := int64(0)
			if len(cmd.Body) > 0 {
				charge = frameCharge(cmd, len(cmd.Body))
				c.cfg.streams.mem.used.Add(charge) // as the reader takes it
			}
			if err := s.receive(fr, cmd, charge); err != nil {
				s.mu.Lock()
				s.ended = true // as finish would, without a connection to tell
				s.mu.Unlock()
			}
			if held := s.inbox.len(); held > window {
				t.Fatalf("the stream holds %d messages, more than its window of %d", held, window)
			}
			if charged, used := s.inbox.charged(), c.cfg.streams.mem.used.Load(); used != charged {
				t.Fatalf("the stream's messages hold %d bytes of MaxStreamMemory, the budget counts %d", charged, used)
			}
		}
	})
}
