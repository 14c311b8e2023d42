package transport

import (
	"errors"
	"strconv"
	"time"
)

// The states of a read ahead (flow.watch).
const (
	watchOff   int32 = iota
	watchOn          // the reader reads ahead: wakeReader ends the read
	watchWoken       // wakeReader moved the read deadline to end it
)

// aLongTimeAgo is a read deadline that has passed: setting it ends a read at once.
var aLongTimeAgo = time.Unix(1, 0)

// errWoken ends a read ahead that wakeReader interrupted: the reader looks for room.
var errWoken = errors.New("transport: read ahead ended for room to read")

// watch reads ahead into the buffer while the reader waits for room, until bytes
// come, the peer goes or wakeReader ends it, and reports false when the connection
// failed. A reader that read nothing while it waited would miss the peer's close,
// and the cancel notices and pings behind the requests it has not read: the handlers
// the peer no longer waits for would keep running, and its connection, with them.
// What comes is only buffered, within the reader's buffer: the control frames among
// its whole frames are done at once (scanAhead), the rest waits for room.
func (r *reader) watch() bool {
	c := r.c
	if len(r.ahead) > 0 {
		r.scanAhead() // the notices that waited for requests the loop has read since
	}
	r.ir.deadline = time.Now().Add(c.cfg.idle)
	c.nc.SetReadDeadline(r.ir.deadline)
	c.flow.watch.Store(watchOn)
	if !c.stillOverloaded() { // room came before wakeReader could see watchOn
		c.flow.watch.Store(watchOff)
		return true
	}
	r.ir.watching = true
	_, err := r.br.Peek(r.br.Buffered() + 1)
	r.ir.watching = false
	c.flow.watch.Store(watchOff)
	switch {
	case err == nil:
		r.scanAhead()
	case !errors.Is(err, errWoken):
		return r.peerGone(err)
	}
	return true
}

// peerGone handles the end of the peer's bytes, or a failed read, met while reading
// ahead, and reports false when the connection failed. The contexts of the requests
// the peer waits for end now, as nobody waits for them. The whole frames left in the
// buffer are then read at once, without waiting for room, so that the oneway requests
// the peer sent just before it closed still run (they are what the buffer holds at
// most): the loop drops the other requests there, and fails the connection with err
// after the last whole frame.
func (r *reader) peerGone(err error) bool {
	r.scanAhead()
	if len(r.ahead) == 0 {
		r.c.readFailed(err)
		return false
	}
	r.gone = err
	r.c.endInbound()
	return true
}

// aheadFrame is what scanAhead saw of a frame the loop has yet to read.
type aheadFrame struct {
	opaque  int32 // a request's; for a notice that waits, the request it names
	request bool  // a request that is not a control frame
	done    bool  // a control frame scanAhead did: the loop skips it
	waits   bool  // a cancel notice whose request is before it, not read yet
}

// scanAhead does the control frames among the whole frames in the buffer that it has
// not looked at yet, and notes what it saw of each in r.ahead, which the loop takes
// from as it reads them. A cancel notice is left to the loop when the request it names
// is among the frames before it, not read yet. Only headers that may be control
// frames are decoded; it stops at a frame not whole in the buffer, or one it cannot
// parse, which the loop then reads as usual.
func (r *reader) scanAhead() {
	c := r.c
	b, _ := r.br.Peek(r.br.Buffered())
	for k, i := 0, 0; len(b)-i >= frameLenSize+frameWordSize; k++ {
		n, err := checkFrameLength(beUint32(b[i:]), c.cfg.maxFrame)
		if err != nil || len(b)-i-frameLenSize < n {
			return
		}
		frame := b[i+frameLenSize : i+frameLenSize+n]
		i += frameLenSize + n
		if k < len(r.ahead) {
			// A notice that waited for its request is done once the loop read
			// that request: the loop may pause again before it reaches the notice.
			if f := &r.ahead[k]; f.waits && !r.requestAmong(k, f.opaque) {
				*f, _ = r.lookAhead(frame, n, k)
			}
			continue
		}
		f, ok := r.lookAhead(frame, n, k)
		if !ok {
			return
		}
		r.ahead = append(r.ahead, f)
	}
}

// lookAhead does a control frame read ahead, the loop's kth frame from now, and says
// what the loop should know of it.
func (r *reader) lookAhead(frame []byte, n, k int) (aheadFrame, bool) {
	word := beUint32(frame)
	h := int(word & maxHeaderSize)
	if h > n-frameWordSize {
		return aheadFrame{}, false
	}
	header := frame[frameWordSize : frameWordSize+h]
	t := SerializeType(word >> 24)
	var hdr Command
	if t == SerializeRocketMQ && len(header) >= binaryFixedSize {
		// Code, language, version, opaque, flag: most frames need no more.
		hdr.Code = int32(int16(uint16(header[0])<<8 | uint16(header[1])))
		hdr.Opaque = int32(beUint32(header[5:]))
		hdr.Flag = int32(beUint32(header[9:]))
	}
	if hdr.IsResponse() || hdr.Code != 0 && !isControl(hdr.Code) {
		return aheadFrame{opaque: hdr.Opaque, request: !hdr.IsResponse()}, true
	}
	hdr = Command{}
	if decodeHeader(&hdr, t, header, nil) != nil {
		return aheadFrame{}, false
	}
	switch {
	case hdr.IsResponse():
		return aheadFrame{}, true
	case !isControl(hdr.Code):
		return aheadFrame{opaque: hdr.Opaque, request: true}, true
	case hdr.Code == codeCancel:
		v, _ := hdr.ExtFields.Lookup(fieldCancelOpaque)
		opaque, err := strconv.ParseInt(v, 10, 32)
		if err != nil {
			return aheadFrame{}, true // the loop answers it as malformed
		}
		if r.requestAmong(k, int32(opaque)) {
			return aheadFrame{opaque: int32(opaque), waits: true}, true
		}
	}
	r.c.started() // as the loop counts a control frame: reply takes it back
	r.c.control(&hdr)
	return aheadFrame{done: true}, true
}

// requestAmong reports whether the request opaque names is among the first k frames
// the loop has not read: a cancel notice behind them must wait for it.
func (r *reader) requestAmong(k int, opaque int32) bool {
	for _, f := range r.ahead[:k] {
		if f.request && f.opaque == opaque {
			return true
		}
	}
	return false
}

// doneAhead takes the loop's next frame off r.ahead, and reports whether scanAhead
// did it already.
func (r *reader) doneAhead() bool {
	if len(r.ahead) == 0 {
		return false
	}
	done := r.ahead[0].done
	r.ahead = r.ahead[1:]
	if len(r.ahead) == 0 {
		r.ahead = nil // lets the array go: most connections never wait
	}
	return done
}
