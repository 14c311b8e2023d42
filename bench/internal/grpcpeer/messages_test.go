package grpcpeer

import (
	"testing"

	"github.com/ringrpc/ringrpc/bench/internal/greeter"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
)

type fieldSpec struct {
	name     string
	typ      descriptorpb.FieldDescriptorProto_Type
	repeated bool
}

// payloadFields are the fields of greeter.proto's Payload, numbered from 1.
var payloadFields = []fieldSpec{
	{"id", descriptorpb.FieldDescriptorProto_TYPE_INT64, false},
	{"name", descriptorpb.FieldDescriptorProto_TYPE_STRING, false},
	{"email", descriptorpb.FieldDescriptorProto_TYPE_STRING, false},
	{"active", descriptorpb.FieldDescriptorProto_TYPE_BOOL, false},
	{"score", descriptorpb.FieldDescriptorProto_TYPE_DOUBLE, false},
	{"age", descriptorpb.FieldDescriptorProto_TYPE_INT32, false},
	{"country", descriptorpb.FieldDescriptorProto_TYPE_STRING, false},
	{"city", descriptorpb.FieldDescriptorProto_TYPE_STRING, false},
	{"street", descriptorpb.FieldDescriptorProto_TYPE_STRING, false},
	{"zip", descriptorpb.FieldDescriptorProto_TYPE_STRING, false},
	{"phone", descriptorpb.FieldDescriptorProto_TYPE_STRING, false},
	{"tags", descriptorpb.FieldDescriptorProto_TYPE_STRING, true},
	{"created_unix", descriptorpb.FieldDescriptorProto_TYPE_INT64, false},
	{"updated_unix", descriptorpb.FieldDescriptorProto_TYPE_INT64, false},
	{"balance", descriptorpb.FieldDescriptorProto_TYPE_DOUBLE, false},
	{"verified", descriptorpb.FieldDescriptorProto_TYPE_BOOL, false},
	{"visits", descriptorpb.FieldDescriptorProto_TYPE_UINT32, false},
	{"rating", descriptorpb.FieldDescriptorProto_TYPE_FLOAT, false},
	{"note", descriptorpb.FieldDescriptorProto_TYPE_STRING, false},
	{"version", descriptorpb.FieldDescriptorProto_TYPE_UINT64, false},
}

// descriptor builds the message descriptor of greeter.proto's Payload or
// HelloRequest with the protobuf runtime, as protoc would describe it.
func descriptor(t *testing.T, name string, fields []fieldSpec) protoreflect.MessageDescriptor {
	t.Helper()
	msg := &descriptorpb.DescriptorProto{Name: proto.String(name)}
	for i, f := range fields {
		label := descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL
		if f.repeated {
			label = descriptorpb.FieldDescriptorProto_LABEL_REPEATED
		}
		msg.Field = append(msg.Field, &descriptorpb.FieldDescriptorProto{
			Name: proto.String(f.name), Number: proto.Int32(int32(i + 1)), Type: f.typ.Enum(), Label: label.Enum(),
		})
	}
	fd, err := protodesc.NewFile(&descriptorpb.FileDescriptorProto{
		Name: proto.String("greeter.proto"), Package: proto.String("ringrpc.bench"),
		Syntax: proto.String("proto3"), MessageType: []*descriptorpb.DescriptorProto{msg},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return fd.Messages().Get(0)
}

// TestPayloadWire checks the hand-written encoding against the protobuf runtime in
// both directions.
func TestPayloadWire(t *testing.T) {
	md := descriptor(t, "Payload", payloadFields)
	want := greeter.Sample()
	ours := (*payload)(&want).appendTo(nil)
	if len(ours) != (*payload)(&want).size() {
		t.Fatalf("size() = %d, encoded %d bytes", (*payload)(&want).size(), len(ours))
	}
	dm := dynamicpb.NewMessage(md)
	if err := proto.Unmarshal(ours, dm); err != nil {
		t.Fatal(err)
	}
	checkDynamic(t, dm, md, &want)
	theirs, err := proto.Marshal(dm)
	if err != nil {
		t.Fatal(err)
	}
	var got greeter.Payload
	if err := (*payload)(&got).unmarshal(theirs); err != nil || !greeter.Equal(&got, &want) {
		t.Errorf("decoding the runtime's encoding: %v, %+v", err, got)
	}
}

func checkDynamic(t *testing.T, dm *dynamicpb.Message, md protoreflect.MessageDescriptor, p *greeter.Payload) {
	t.Helper()
	get := func(name string) protoreflect.Value { return dm.Get(md.Fields().ByName(protoreflect.Name(name))) }
	tags := get("tags").List()
	if get("id").Int() != p.ID || get("age").Int() != int64(p.Age) || get("visits").Uint() != uint64(p.Visits) ||
		get("version").Uint() != p.Version || get("score").Float() != p.Score || float32(get("rating").Float()) != p.Rating ||
		get("active").Bool() != p.Active || get("note").String() != p.Note || tags.Len() != len(p.Tags) ||
		tags.Get(tags.Len()-1).String() != p.Tags[len(p.Tags)-1] || get("created_unix").Int() != p.CreatedUnix {
		t.Errorf("the protobuf runtime decoded %v", dm)
	}
}

func TestHelloWire(t *testing.T) {
	md := descriptor(t, "HelloRequest", []fieldSpec{
		{"a", descriptorpb.FieldDescriptorProto_TYPE_STRING, false},
		{"b", descriptorpb.FieldDescriptorProto_TYPE_STRING, false},
	})
	req := HelloRequest{A: "a", B: "bé"}
	dm := dynamicpb.NewMessage(md)
	if err := proto.Unmarshal(req.appendTo(nil), dm); err != nil {
		t.Fatal(err)
	}
	if dm.Get(md.Fields().ByNumber(2)).String() != "bé" {
		t.Errorf("the protobuf runtime decoded %v", dm)
	}
	theirs, _ := proto.Marshal(dm)
	var got HelloRequest
	if err := got.unmarshal(theirs); err != nil || got != req {
		t.Errorf("decoding the runtime's encoding: %v, %+v", err, got)
	}
}

func TestCodec(t *testing.T) {
	c := encoding.GetCodecV2("proto")
	if _, ok := c.(codec); !ok {
		t.Fatalf("the proto codec is %T", c)
	}
	in := greeter.Sample()
	data, err := c.Marshal(&in)
	if err != nil {
		t.Fatal(err)
	}
	var out greeter.Payload
	if err := c.Unmarshal(data, &out); err != nil || !greeter.Equal(&in, &out) {
		t.Errorf("round trip: %v, %+v", err, out)
	}
	if _, err := c.Marshal(struct{}{}); err == nil {
		t.Error("marshalled a value that is no message")
	}
	bad := mem.BufferSlice{mem.SliceBuffer([]byte{0x12, 0x02, 0xff, 0xfe})}
	if err := c.Unmarshal(bad, &HelloRequest{}); err == nil {
		t.Error("accepted a string that is not UTF-8")
	}
}

func TestSkipsUnknownAndMistypedFields(t *testing.T) {
	// field 3 (unknown, varint), field 1 as a varint (mistyped), then field 1 "x".
	b := []byte{0x18, 0x05, 0x08, 0x01, 0x0a, 0x01, 'x'}
	var m HelloRequest
	if err := m.unmarshal(b); err != nil || m.A != "x" {
		t.Errorf("got %+v, %v", m, err)
	}
	if err := m.unmarshal([]byte{0x0a, 0x05, 'x'}); err == nil {
		t.Error("accepted a truncated field")
	}
}
