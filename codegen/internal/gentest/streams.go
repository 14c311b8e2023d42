package gentest

import (
	"context"
	"iter"
)

//go:generate go tool ringrpc-gen -type Feed

// Event is a server stream's message.
type Event struct {
	Topic string `json:"topic"`
	Seq   int    `json:"seq"`
}

// Chunk is a client stream's message.
type Chunk struct {
	Data []byte `json:"data"`
}

// Summary answers an upload.
type Summary struct {
	Chunks int `json:"chunks"`
	Bytes  int `json:"bytes"`
}

// Feed exercises the three stream shapes.
type Feed interface {
	Watch(ctx context.Context, topic string, n int) iter.Seq2[Event, error]
	Upload(ctx context.Context, chunks iter.Seq[Chunk]) (Summary, error)
	Chat(ctx context.Context, in iter.Seq[string]) iter.Seq2[string, error]
}
