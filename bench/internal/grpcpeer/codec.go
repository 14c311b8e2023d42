package grpcpeer

import (
	"fmt"

	"github.com/ringrpc/ringrpc/bench/internal/greeter"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
)

// codec is gRPC's "proto" codec for the messages of greeter.proto, encoded with
// protowire. It manages buffers as gRPC's own protobuf codec does.
type codec struct{}

// Registering under "proto" replaces gRPC's default codec in this process, so that
// calls carry the content type of a protoc-generated service.
func init() { encoding.RegisterCodecV2(codec{}) }

func (codec) Name() string { return "proto" }

func (codec) Marshal(v any) (mem.BufferSlice, error) {
	m, err := messageOf(v)
	if err != nil {
		return nil, err
	}
	size := m.size()
	if mem.IsBelowBufferPoolingThreshold(size) {
		return mem.BufferSlice{mem.SliceBuffer(m.appendTo(make([]byte, 0, size)))}, nil
	}
	pool := mem.DefaultBufferPool()
	buf := pool.Get(size)
	*buf = m.appendTo((*buf)[:0])
	return mem.BufferSlice{mem.NewBuffer(buf, pool)}, nil
}

func (codec) Unmarshal(data mem.BufferSlice, v any) error {
	m, err := messageOf(v)
	if err != nil {
		return err
	}
	buf := data.MaterializeToBuffer(mem.DefaultBufferPool())
	defer buf.Free()
	return m.unmarshal(buf.ReadOnlyData())
}

func messageOf(v any) (message, error) {
	switch v := v.(type) {
	case message:
		return v, nil
	case *greeter.Payload:
		return (*payload)(v), nil
	}
	return nil, fmt.Errorf("proto: cannot encode %T: not a message of greeter.proto", v)
}
