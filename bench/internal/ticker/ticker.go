// Package ticker is the streaming service the stream benchmark measures: a server
// stream of small messages, and a ping-pong over a bidirectional stream.
package ticker

import (
	"context"
	"iter"
)

//go:generate go run -C ../../.. ./cmd/ringrpc-gen -dir bench/internal/ticker -type Ticker

// Tick is the small message streamed.
type Tick struct {
	Seq  int64  `json:"seq"`
	Note string `json:"note"`
}

// Note is what every tick says.
const Note = "tick"

// Ticker streams ticks.
type Ticker interface {
	// Ticks streams n ticks numbered from 1.
	Ticks(ctx context.Context, n int) iter.Seq2[Tick, error]
	// PingPong answers each tick it receives with the same tick.
	PingPong(ctx context.Context, in iter.Seq[Tick]) iter.Seq2[Tick, error]
}

// Impl is the provider's implementation of Ticker.
type Impl struct{}

// Ticks streams n ticks.
func (Impl) Ticks(_ context.Context, n int) iter.Seq2[Tick, error] {
	return func(yield func(Tick, error) bool) {
		for i := 1; i <= n; i++ {
			if !yield(Tick{Seq: int64(i), Note: Note}, nil) {
				return
			}
		}
	}
}

// PingPong echoes each tick.
func (Impl) PingPong(_ context.Context, in iter.Seq[Tick]) iter.Seq2[Tick, error] {
	return func(yield func(Tick, error) bool) {
		for t := range in {
			if !yield(t, nil) {
				return
			}
		}
	}
}
