package grpcpeer

import (
	"github.com/ringrpc/ringrpc/bench/internal/greeter"
	"google.golang.org/protobuf/encoding/protowire"
)

// message is what the codec marshals: the messages of greeter.proto.
type message interface {
	size() int
	appendTo(b []byte) []byte
	unmarshal(b []byte) error
}

// HelloRequest is ringrpc.bench.HelloRequest.
type HelloRequest struct {
	A string
	B string
}

func (m *HelloRequest) size() int { return sizeString(1, m.A) + sizeString(2, m.B) }

func (m *HelloRequest) appendTo(b []byte) []byte {
	b = appendString(b, 1, m.A)
	return appendString(b, 2, m.B)
}

func (m *HelloRequest) unmarshal(b []byte) error {
	*m = HelloRequest{}
	r := reader{b: b}
	for num, ok := r.next(); ok; num, ok = r.next() {
		switch num {
		case 1:
			r.string(&m.A)
		case 2:
			r.string(&m.B)
		default:
			r.skip()
		}
	}
	return r.err
}

// HelloReply is ringrpc.bench.HelloReply.
type HelloReply struct {
	Message string
}

func (m *HelloReply) size() int { return sizeString(1, m.Message) }

func (m *HelloReply) appendTo(b []byte) []byte { return appendString(b, 1, m.Message) }

func (m *HelloReply) unmarshal(b []byte) error {
	*m = HelloReply{}
	r := reader{b: b}
	for num, ok := r.next(); ok; num, ok = r.next() {
		if num == 1 {
			r.string(&m.Message)
		} else {
			r.skip()
		}
	}
	return r.err
}

// payload is ringrpc.bench.Payload over greeter.Payload's fields.
type payload greeter.Payload

func (m *payload) size() int {
	return sizeVarint(1, uint64(m.ID)) +
		sizeString(2, m.Name) +
		sizeString(3, m.Email) +
		sizeVarint(4, boolToVarint(m.Active)) +
		sizeDouble(5, m.Score) +
		sizeVarint(6, uint64(int64(m.Age))) +
		sizeString(7, m.Country) +
		sizeString(8, m.City) +
		sizeString(9, m.Street) +
		sizeString(10, m.Zip) +
		sizeString(11, m.Phone) +
		sizeStrings(12, m.Tags) +
		sizeVarint(13, uint64(m.CreatedUnix)) +
		sizeVarint(14, uint64(m.UpdatedUnix)) +
		sizeDouble(15, m.Balance) +
		sizeVarint(16, boolToVarint(m.Verified)) +
		sizeVarint(17, uint64(m.Visits)) +
		sizeFloat(18, m.Rating) +
		sizeString(19, m.Note) +
		sizeVarint(20, m.Version)
}

func (m *payload) appendTo(b []byte) []byte {
	b = appendVarint(b, 1, uint64(m.ID))
	b = appendString(b, 2, m.Name)
	b = appendString(b, 3, m.Email)
	b = appendVarint(b, 4, boolToVarint(m.Active))
	b = appendDouble(b, 5, m.Score)
	b = appendVarint(b, 6, uint64(int64(m.Age)))
	b = appendString(b, 7, m.Country)
	b = appendString(b, 8, m.City)
	b = appendString(b, 9, m.Street)
	b = appendString(b, 10, m.Zip)
	b = appendString(b, 11, m.Phone)
	b = appendStrings(b, 12, m.Tags)
	b = appendVarint(b, 13, uint64(m.CreatedUnix))
	b = appendVarint(b, 14, uint64(m.UpdatedUnix))
	b = appendDouble(b, 15, m.Balance)
	b = appendVarint(b, 16, boolToVarint(m.Verified))
	b = appendVarint(b, 17, uint64(m.Visits))
	b = appendFloat(b, 18, m.Rating)
	b = appendString(b, 19, m.Note)
	return appendVarint(b, 20, m.Version)
}

func (m *payload) unmarshal(b []byte) error {
	*m = payload{}
	r := reader{b: b}
	for num, ok := r.next(); ok; num, ok = r.next() {
		m.field(&r, num)
	}
	return r.err
}

// field reads the value of field num into m.
func (m *payload) field(r *reader, num protowire.Number) {
	switch num {
	case 1:
		if v, ok := r.varint(); ok {
			m.ID = int64(v)
		}
	case 2:
		r.string(&m.Name)
	case 3:
		r.string(&m.Email)
	case 4:
		if v, ok := r.varint(); ok {
			m.Active = v != 0
		}
	case 5:
		r.double(&m.Score)
	case 6:
		if v, ok := r.varint(); ok {
			m.Age = int32(v)
		}
	case 7:
		r.string(&m.Country)
	case 8:
		r.string(&m.City)
	case 9:
		r.string(&m.Street)
	case 10:
		r.string(&m.Zip)
	case 11:
		r.string(&m.Phone)
	case 12:
		r.repeatedString(&m.Tags)
	case 13:
		if v, ok := r.varint(); ok {
			m.CreatedUnix = int64(v)
		}
	case 14:
		if v, ok := r.varint(); ok {
			m.UpdatedUnix = int64(v)
		}
	case 15:
		r.double(&m.Balance)
	case 16:
		if v, ok := r.varint(); ok {
			m.Verified = v != 0
		}
	case 17:
		if v, ok := r.varint(); ok {
			m.Visits = uint32(v)
		}
	case 18:
		r.float(&m.Rating)
	case 19:
		r.string(&m.Note)
	case 20:
		if v, ok := r.varint(); ok {
			m.Version = v
		}
	default:
		r.skip()
	}
}
