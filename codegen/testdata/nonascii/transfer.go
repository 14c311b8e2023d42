package nonascii

import "context"

// Zahlung is a plain struct.
type Zahlung struct{ Betrag []int }

// Überweisung is named with a capital letter beyond ASCII, as Go allows.
type Überweisung interface {
	Senden(ctx context.Context, z Zahlung) error
}

// 支付 is named with a letter that has no upper or lower case: it is unexported, as
// its method and results are.
type 支付 interface {
	付款(ctx context.Context, z Zahlung) (结果 string, 数 int, err error)
}

// 𝐀pi is named with an upper-case letter that has no lower case.
type 𝐀pi interface {
	Get(ctx context.Context) (Zahlung, error)
}
