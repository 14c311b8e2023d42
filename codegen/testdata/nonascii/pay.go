package nonascii

import "context"

type ärger struct{ Betrag []int }

// Pay takes a type named with a lower-case letter beyond ASCII, and names its
// results so, and with a letter that has no upper case.
type Pay interface {
	Senden(ctx context.Context, a ärger) error
	Both(ctx context.Context) (ölstand int, äpfel []int, 結果 string, err error)
}
