package transport

import (
	"bytes"
	"errors"
	"strconv"
	"testing"
	"testing/synctest"
)

// gatherConn is a connection with a writer whose loop does not run: the test frames
// what streams gathered (frameStreams) and reads what was queued, as the loop would
// before it writes.
func gatherConn(opts ConnOptions) *Conn {
	c := &Conn{addr: "gather", cfg: newConnConfig(opts, serverPermits)}
	c.w.init(c)
	return c
}

// framesQueued parses the frames queued on c's writer and empties its queue.
func framesQueued(t *testing.T, c *Conn) []*Command {
	t.Helper()
	buf := c.w.queue.buf
	c.w.queue.buf = nil
	var out []*Command
	for len(buf) > 0 {
		cmd, n, err := ParseFrame(buf, 1<<24)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, cmd)
		buf = buf[n:]
	}
	return out
}

func field(cmd *Command, k string) string {
	v, _ := cmd.ExtFields.Lookup(k)
	return v
}

// TestStreamGathersMessages: the messages a stream sends before its writer comes by
// travel in one frame, numbered from the first and counted; one alone travels without
// a count; a grant carries the messages gathered before it.
func TestStreamGathersMessages(t *testing.T) {
	c := gatherConn(ConnOptions{})
	s := newStream(c, false, 64)
	s.setID(7)
	s.credit.Store(64)
	msg := func(i int) []byte { return []byte(`{"id":` + strconv.Itoa(i) + `}`) }
	for i := 1; i <= 3; i++ {
		must(t, s.Send(msg(i)))
	}
	if got := framesQueued(t, c); len(got) != 0 {
		t.Fatalf("%d frames queued before the writer came by, want none", len(got))
	}
	c.w.frameStreams()
	got := framesQueued(t, c)
	if len(got) != 1 || field(got[0], fieldStreamSeq) != "1" || field(got[0], fieldStreamCount) != "3" {
		t.Fatalf("three messages in a row: %d frames, the first %+v; want one, seq 1, count 3", len(got), got[0].ExtFields)
	}
	msgs, err := splitMessages(got[0].Body, 3, nil)
	if err != nil || !bytes.Equal(msgs[0], msg(1)) || !bytes.Equal(msgs[2], msg(3)) {
		t.Fatalf("the frame's messages: %q, %v", msgs, err)
	}

	must(t, s.Send(msg(4)))
	c.w.frameStreams()
	got = framesQueued(t, c)
	if len(got) != 1 || field(got[0], fieldStreamSeq) != "4" || field(got[0], fieldStreamCount) != "" || !bytes.Equal(got[0].Body, msg(4)) {
		t.Fatalf("a message alone: %d frames, the first %+v %q; want one, seq 4, no count, the message as the body", len(got), got[0].ExtFields, got[0].Body)
	}

	must(t, s.Send(msg(5)))
	must(t, s.Send(msg(6)))
	s.sendCredit(9)
	c.w.frameStreams() // finds nothing: the grant took the messages
	got = framesQueued(t, c)
	if len(got) != 1 || field(got[0], fieldStreamSeq) != "5" || field(got[0], fieldStreamCount) != "2" || field(got[0], fieldStreamCredit) != "9" {
		t.Fatalf("a grant after two messages: %d frames, the first %+v; want one, seq 5, count 2, credit 9", len(got), got[0].ExtFields)
	}
}

// TestStreamSendWaitsForTheWriter: a stream gathers at most streamBatch bytes; the
// next Send waits until the writer takes them.
func TestStreamSendWaitsForTheWriter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := gatherConn(ConnOptions{})
		s := newStream(c, false, 1024)
		s.setID(7)
		s.credit.Store(1024)
		body := bytes.Repeat([]byte{'x'}, 1000)
		n := 0
		for len(s.out)+msgLenSize+len(body) <= streamBatch {
			must(t, s.Send(body))
			n++
		}
		sent := make(chan error, 1)
		go func() { sent <- s.Send(body) }()
		synctest.Wait()
		select {
		case err := <-sent:
			t.Fatalf("Send returned %v with %d bytes gathered, want it to wait for the writer", err, len(s.out))
		default:
		}
		c.w.frameStreams()
		must(t, <-sent)
		got := framesQueued(t, c)
		if len(got) != 1 || field(got[0], fieldStreamCount) != strconv.Itoa(n) {
			t.Fatalf("%d frames, the first %+v; want one of %d messages", len(got), got[0].ExtFields, n)
		}
	})
}

// TestStreamMessageSize: a message may take all of MaxFrameSize but headerRoom.
func TestStreamMessageSize(t *testing.T) {
	const limit = 4 << 10
	for _, tc := range []struct {
		size int
		ok   bool
	}{
		{limit - headerRoom, true},
		{limit - headerRoom + 1, false},
	} {
		c := gatherConn(ConnOptions{MaxFrameSize: limit})
		s := newStream(c, false, 4)
		s.setID(7)
		s.credit.Store(4)
		err := s.Send(make([]byte, tc.size))
		if tc.ok != (err == nil) || (err != nil && !errors.Is(err, ErrFrameTooLarge)) {
			t.Fatalf("a message of %d bytes with a frame limit of %d: %v", tc.size, limit, err)
		}
		if tc.ok {
			c.w.frameStreams()
			if got := framesQueued(t, c); len(got) != 1 || len(got[0].Body) != tc.size {
				t.Fatalf("a message of %d bytes: %d frames", tc.size, len(got))
			}
		}
	}
}

func TestSplitMessages(t *testing.T) {
	lp := func(ms ...string) []byte {
		var b []byte
		for _, m := range ms {
			b = append(b, byte(len(m)>>24), byte(len(m)>>16), byte(len(m)>>8), byte(len(m)))
			b = append(b, m...)
		}
		return b
	}
	for _, tc := range []struct {
		name string
		body []byte
		n    int32
		want []string
	}{
		{"two", lp("ab", "cde"), 2, []string{"ab", "cde"}},
		{"empty messages", lp("", ""), 2, []string{"", ""}},
		{"fewer than counted", lp("ab"), 2, nil},
		{"more than counted", lp("ab", "c"), 1, nil},
		{"length beyond the body", append(lp("ab"), 0, 0, 1, 0, 'x'), 2, nil},
		{"a length cut short", append(lp("ab"), 0, 0), 2, nil},
		{"a count no body can hold", lp("a"), 1 << 20, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := splitMessages(tc.body, tc.n, nil)
			if tc.want == nil {
				if err == nil {
					t.Fatalf("split %q into %q, want an error", tc.body, got)
				}
				return
			}
			if err != nil || len(got) != len(tc.want) {
				t.Fatalf("split into %q, %v; want %q", got, err, tc.want)
			}
			for i, m := range got {
				if string(m) != tc.want[i] || cap(m) != len(m) {
					t.Fatalf("message %d: %q (cap %d), want %q capped at its length", i, m, cap(m), tc.want[i])
				}
			}
		})
	}
}

// TestStreamFramesWhatWasGatheredWhenDraining: messages Send took before a graceful
// close are framed and written by the drain, as frames queued before it are.
func TestStreamFramesWhatWasGatheredWhenDraining(t *testing.T) {
	c := gatherConn(ConnOptions{})
	s := newStream(c, false, 8)
	s.setID(7)
	s.credit.Store(8)
	must(t, s.Send([]byte(`1`)))
	c.w.drain(ErrClosed)
	c.w.frameStreams()
	if got := framesQueued(t, c); len(got) != 1 || field(got[0], fieldStreamSeq) != "1" {
		t.Fatalf("%d frames queued by the drain, want the message Send took", len(got))
	}
	if err := s.Send([]byte(`2`)); err == nil {
		t.Fatal("a Send after the drain began was taken")
	}
}

// TestStreamSendAfterTheWriterClosed: once the writer takes nothing more, every Send
// says so; none is taken and silently lost.
func TestStreamSendAfterTheWriterClosed(t *testing.T) {
	c := gatherConn(ConnOptions{})
	s := newStream(c, false, 8)
	s.setID(7)
	s.credit.Store(8)
	c.w.close(ErrClosed)
	for i := range 3 {
		if err := s.Send([]byte(`1`)); err == nil {
			t.Fatalf("Send %d on a closed writer returned nil", i+1)
		}
	}
}

// TestStreamLetsGoOfALargeBuffer: a large message leaves no large buffer behind once
// framed.
func TestStreamLetsGoOfALargeBuffer(t *testing.T) {
	c := gatherConn(ConnOptions{})
	s := newStream(c, false, 8)
	s.setID(7)
	s.credit.Store(8)
	must(t, s.Send(make([]byte, 256<<10)))
	c.w.frameStreams()
	framesQueued(t, c)
	s.frameMu.Lock()
	defer s.frameMu.Unlock()
	if cap(s.out) > 2*streamBatch {
		t.Fatalf("the stream keeps a buffer of %d bytes after framing a large message", cap(s.out))
	}
}

// TestStreamFrameSharesItsCharge: the messages of a frame share its body, so taking
// all but the last gives back their inbox slots only; the last gives back the rest,
// and nothing the reader used keeps the body alive.
func TestStreamFrameSharesItsCharge(t *testing.T) {
	c := gatherConn(ConnOptions{})
	s := newStream(c, false, 8)
	s.setID(7)
	body := lengthPrefixed(string(make([]byte, 8<<10)), "b", "c")
	cmd := rawMsg{seq: 1, count: 3, body: body}.frame("7", 1)
	charge := frameCharge(cmd, len(body))
	mem := c.cfg.streams.mem
	mem.used.Add(charge) // as the reader takes it
	f, err := parseStreamFrame(cmd)
	must(t, err)
	must(t, s.receive(f, cmd, charge))
	for _, m := range s.split[:cap(s.split)] {
		if m != nil {
			t.Fatal("the reader's scratch still holds a message of the frame")
		}
	}
	for i, want := range []int64{charge - streamSlot, charge - 2*streamSlot, 0} {
		if _, err := s.Recv(); err != nil {
			t.Fatal(err)
		}
		if used := mem.used.Load(); used != want {
			t.Fatalf("after message %d: %d bytes charged, want %d", i+1, used, want)
		}
	}
}

// TestStreamFailureDropsWhatTheConsumerHolds: messages moved to the consumer's queue
// are dropped as the inbox's are once the stream fails, and give back their memory.
func TestStreamFailureDropsWhatTheConsumerHolds(t *testing.T) {
	for _, how := range []string{"Recv", "drop"} {
		t.Run(how, func(t *testing.T) {
			c := gatherConn(ConnOptions{})
			s := newStream(c, false, 8)
			s.setID(7)
			body := lengthPrefixed("a", "b", "c")
			cmd := rawMsg{seq: 1, count: 3, body: body}.frame("7", 1)
			charge := frameCharge(cmd, len(body))
			mem := c.cfg.streams.mem
			mem.used.Add(charge)
			f, err := parseStreamFrame(cmd)
			must(t, err)
			must(t, s.receive(f, cmd, charge))
			if m, err := s.Recv(); err != nil || string(m) != "a" {
				t.Fatalf("first message %q, %v", m, err)
			}
			failure := errors.New("lost")
			s.finish(nil, failure)
			if how == "Recv" {
				if m, err := s.Recv(); !errors.Is(err, failure) {
					t.Fatalf("after the failure Recv returned %q, %v; want the failure", m, err)
				}
			} else {
				s.drop()
			}
			if used := mem.used.Load(); used != 0 {
				t.Fatalf("%d bytes still charged after the failure", used)
			}
		})
	}
}
