package rpc

// A minimal RocketMQ remoting peer written from docs/PROTOCOL.md alone: its frame and
// header encoder and decoder share no code with package transport's codec, so the
// tests that use it check the document, not the codec against itself.

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"testing"
	"time"
)

// wireMsg is a frame as the document describes it.
type wireMsg struct {
	Code   int32
	Opaque int32
	Flag   int32
	Remark string
	Ext    map[string]string
	Body   []byte
}

func (m *wireMsg) String() string {
	return fmt.Sprintf("{code:%d opaque:%d flag:%d remark:%q ext:%v body:%q}", m.Code, m.Opaque, m.Flag, m.Remark, m.Ext, m.Body)
}

// wireHeader builds a ROCKETMQ header (§4): language GO, version 479.
func wireHeader(code int16, opaque, flag int32, ext ...string) []byte {
	var b []byte
	b = binary.BigEndian.AppendUint16(b, uint16(code))
	b = append(b, 9)
	b = binary.BigEndian.AppendUint16(b, 479)
	b = binary.BigEndian.AppendUint32(b, uint32(opaque))
	b = binary.BigEndian.AppendUint32(b, uint32(flag))
	b = binary.BigEndian.AppendUint32(b, 0) // no remark
	var e []byte
	for i := 0; i+1 < len(ext); i += 2 {
		e = binary.BigEndian.AppendUint16(e, uint16(len(ext[i])))
		e = append(e, ext[i]...)
		e = binary.BigEndian.AppendUint32(e, uint32(len(ext[i+1])))
		e = append(e, ext[i+1]...)
	}
	b = binary.BigEndian.AppendUint32(b, uint32(len(e)))
	return append(b, e...)
}

// wireFrame builds a frame (§2) with header serialization t.
func wireFrame(t byte, header, body []byte) []byte {
	var b []byte
	b = binary.BigEndian.AppendUint32(b, uint32(4+len(header)+len(body)))
	b = binary.BigEndian.AppendUint32(b, uint32(t)<<24|uint32(len(header)))
	b = append(b, header...)
	return append(b, body...)
}

func wireDecode(t byte, h, body []byte) (*wireMsg, error) {
	m := &wireMsg{Body: body, Ext: map[string]string{}}
	switch t {
	case 0:
		var j struct {
			Code      int32             `json:"code"`
			Opaque    int32             `json:"opaque"`
			Flag      int32             `json:"flag"`
			Remark    string            `json:"remark"`
			ExtFields map[string]string `json:"extFields"`
		}
		if err := json.Unmarshal(h, &j); err != nil {
			return nil, err
		}
		m.Code, m.Opaque, m.Flag, m.Remark = j.Code, j.Opaque, j.Flag, j.Remark
		for k, v := range j.ExtFields {
			m.Ext[k] = v
		}
	case 1:
		if len(h) < 21 {
			return nil, fmt.Errorf("ROCKETMQ header of %d bytes", len(h))
		}
		m.Code = int32(int16(binary.BigEndian.Uint16(h)))
		m.Opaque = int32(binary.BigEndian.Uint32(h[5:]))
		m.Flag = int32(binary.BigEndian.Uint32(h[9:]))
		r := int(binary.BigEndian.Uint32(h[13:]))
		m.Remark = string(h[17 : 17+r])
		off := 17 + r
		e := int(binary.BigEndian.Uint32(h[off:]))
		ext := h[off+4 : off+4+e]
		for i := 0; i < len(ext); {
			k := int(binary.BigEndian.Uint16(ext[i:]))
			key := string(ext[i+2 : i+2+k])
			i += 2 + k
			v := int(binary.BigEndian.Uint32(ext[i:]))
			m.Ext[key] = string(ext[i+4 : i+4+v])
			i += 4 + v
		}
	default:
		return nil, fmt.Errorf("serialization %d", t)
	}
	return m, nil
}

type wirePeer struct {
	t  testing.TB
	c  net.Conn
	br *bufio.Reader
}

func wireDial(t testing.TB, addr string) *wirePeer {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &wirePeer{t: t, c: c, br: bufio.NewReader(c)}
}

func (p *wirePeer) send(frames ...[]byte) {
	p.t.Helper()
	p.c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	for _, f := range frames {
		if _, err := p.c.Write(f); err != nil {
			p.t.Fatalf("write: %v", err)
		}
	}
}

// read reads one frame within d.
func (p *wirePeer) read(d time.Duration) (*wireMsg, error) {
	p.c.SetReadDeadline(time.Now().Add(d))
	var pre [8]byte
	if _, err := io.ReadFull(p.br, pre[:]); err != nil {
		return nil, err
	}
	n := int(binary.BigEndian.Uint32(pre[:]))
	word := binary.BigEndian.Uint32(pre[4:])
	rest := make([]byte, n-4)
	if _, err := io.ReadFull(p.br, rest); err != nil {
		return nil, err
	}
	h := int(word & 0xffffff)
	return wireDecode(byte(word>>24), rest[:h], rest[h:])
}

// response reads frames until the response to the request with opaque id.
func (p *wirePeer) response(id int32) *wireMsg {
	p.t.Helper()
	for {
		m := p.next()
		if m.Flag&1 != 0 && m.Opaque == id {
			return m
		}
	}
}

// next reads the next frame that is not a going-away notice, within 10 s.
func (p *wirePeer) next() *wireMsg {
	p.t.Helper()
	for {
		m, err := p.read(10 * time.Second)
		if err != nil {
			p.t.Fatalf("reading a frame: %v", err)
		}
		if m.Flag&1 == 0 && m.Code == 7702 {
			continue
		}
		return m
	}
}
