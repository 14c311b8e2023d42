package grpcpeer

import (
	"context"
	"errors"
	"io"
	"net"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// The streaming service of the stream benchmark, ringrpc.bench.Ticker, as
// protoc-gen-go-grpc would describe it:
//
//	rpc Ticks(TicksRequest) returns (stream Tick);
//	rpc PingPong(stream Tick) returns (stream Tick);
const (
	ticksMethod    = "/ringrpc.bench.Ticker/Ticks"
	pingPongMethod = "/ringrpc.bench.Ticker/PingPong"
)

type tickerServer interface{}

var tickerServiceDesc = grpc.ServiceDesc{
	ServiceName: "ringrpc.bench.Ticker",
	HandlerType: (*tickerServer)(nil),
	Streams: []grpc.StreamDesc{
		{StreamName: "Ticks", Handler: ticksHandler, ServerStreams: true},
		{StreamName: "PingPong", Handler: pingPongHandler, ServerStreams: true, ClientStreams: true},
	},
	Metadata: "ticker.proto",
}

// TicksRequest is ringrpc.bench.TicksRequest.
type TicksRequest struct{ N int64 }

func (m *TicksRequest) size() int                { return sizeVarint(1, uint64(m.N)) }
func (m *TicksRequest) appendTo(b []byte) []byte { return appendVarint(b, 1, uint64(m.N)) }

func (m *TicksRequest) unmarshal(b []byte) error {
	*m = TicksRequest{}
	r := reader{b: b}
	for num, ok := r.next(); ok; num, ok = r.next() {
		if num != 1 {
			r.skip()
		} else if v, ok := r.varint(); ok {
			m.N = int64(v)
		}
	}
	return r.err
}

// Tick is ringrpc.bench.Tick.
type Tick struct {
	Seq  int64
	Note string
}

func (m *Tick) size() int { return sizeVarint(1, uint64(m.Seq)) + sizeString(2, m.Note) }

func (m *Tick) appendTo(b []byte) []byte {
	return appendString(appendVarint(b, 1, uint64(m.Seq)), 2, m.Note)
}

func (m *Tick) unmarshal(b []byte) error {
	*m = Tick{}
	r := reader{b: b}
	for num, ok := r.next(); ok; num, ok = r.next() {
		switch num {
		case 1:
			if v, ok := r.varint(); ok {
				m.Seq = int64(v)
			}
		case 2:
			r.string(&m.Note)
		default:
			r.skip()
		}
	}
	return r.err
}

func ticksHandler(_ any, stream grpc.ServerStream) error {
	in := new(TicksRequest)
	if err := stream.RecvMsg(in); err != nil {
		return err
	}
	t := &Tick{Note: "tick"}
	for i := int64(1); i <= in.N; i++ {
		t.Seq = i
		if err := stream.SendMsg(t); err != nil {
			return err
		}
	}
	return nil
}

func pingPongHandler(_ any, stream grpc.ServerStream) error {
	t := new(Tick)
	for {
		if err := stream.RecvMsg(t); err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
		if err := stream.SendMsg(t); err != nil {
			return err
		}
	}
}

// ServeTicker serves the Ticker service on ln until stop is called.
func ServeTicker(ln net.Listener) (stop func(), err error) {
	s := grpc.NewServer()
	s.RegisterService(&tickerServiceDesc, struct{}{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.Serve(ln)
	}()
	return func() { s.Stop(); <-done }, nil
}

// TickerClient calls the Ticker service over one gRPC ClientConn.
type TickerClient struct{ cc *grpc.ClientConn }

// DialTicker returns a client of the Ticker server at addr.
func DialTicker(addr string) (*TickerClient, error) {
	cc, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, err
	}
	return &TickerClient{cc}, nil
}

// Close closes the connection.
func (c *TickerClient) Close() error { return c.cc.Close() }

// Ticks receives a stream of n ticks and checks their numbers.
func (c *TickerClient) Ticks(ctx context.Context, n int) error {
	st, err := c.cc.NewStream(ctx, &tickerServiceDesc.Streams[0], ticksMethod)
	if err != nil {
		return err
	}
	if err := st.SendMsg(&TicksRequest{N: int64(n)}); err != nil {
		return err
	}
	if err := st.CloseSend(); err != nil {
		return err
	}
	t := new(Tick)
	for i := int64(1); ; i++ {
		err := st.RecvMsg(t)
		if err == io.EOF {
			if i != int64(n)+1 {
				return errors.New("grpc ticks: the stream ended early")
			}
			return nil
		}
		if err != nil {
			return err
		}
		if t.Seq != i {
			return errors.New("grpc ticks: out of order")
		}
	}
}

// PingPong is a bidirectional stream on which a tick is sent and its echo awaited,
// round after round.
type PingPong struct {
	st grpc.ClientStream
	t  Tick
}

// PingPong opens a ping-pong stream; cancel ctx to end it.
func (c *TickerClient) PingPong(ctx context.Context) (*PingPong, error) {
	st, err := c.cc.NewStream(ctx, &tickerServiceDesc.Streams[1], pingPongMethod)
	if err != nil {
		return nil, err
	}
	return &PingPong{st: st, t: Tick{Note: "tick"}}, nil
}

// Round sends tick seq and waits for its echo.
func (p *PingPong) Round(seq int64) error {
	p.t.Seq = seq
	if err := p.st.SendMsg(&p.t); err != nil {
		return err
	}
	if err := p.st.RecvMsg(&p.t); err != nil {
		return err
	}
	if p.t.Seq != seq {
		return errors.New("grpc ping-pong: wrong echo")
	}
	return nil
}

// Close ends the stream.
func (p *PingPong) Close() error { return p.st.CloseSend() }
