// Package streams holds the three stream shapes.
package streams

import (
	"context"
	"iter"
)

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

// Msg is a chat message.
type Msg struct {
	From string `json:"from"`
	Text string `json:"text"`
}

// Feed streams in each direction.
type Feed interface {
	Watch(ctx context.Context, topic string) iter.Seq2[Event, error]
	Upload(ctx context.Context, chunks iter.Seq[Chunk]) (Summary, error)
	Chat(ctx context.Context, in iter.Seq[Msg]) iter.Seq2[Msg, error]
	Ticks(ctx context.Context, every int) iter.Seq2[int64, error]
	Sum(ctx context.Context, label string, nums iter.Seq[float64]) (string, float64, error)
	Drain(ctx context.Context, words iter.Seq[string]) error
}
