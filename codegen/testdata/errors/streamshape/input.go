package streamshape

import (
	"context"
	"iter"
)

type Bad interface {
	NotLast(ctx context.Context, in iter.Seq[int], n int) error
	Two(ctx context.Context, a iter.Seq[int], b iter.Seq[int]) error
	Seq2Param(ctx context.Context, in iter.Seq2[int, error]) error
	SeqResult(ctx context.Context) iter.Seq[int]
	NotError(ctx context.Context) iter.Seq2[int, string]
	WithOthers(ctx context.Context) (iter.Seq2[int, error], error)
	NoCtx(topic string) iter.Seq2[int, error]
	Unanswered(ctx context.Context, in iter.Seq[int])
	BadMessage(ctx context.Context) iter.Seq2[chan int, error]
}
