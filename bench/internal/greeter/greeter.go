// Package greeter is the service every peer serves: the interface, its
// implementation, the echo payload and the arguments the benchmark sends.
package greeter

import (
	"context"
	"slices"
)

//go:generate go run -C ../../.. ./cmd/ringrpc-gen -dir bench/internal/greeter -type Greeter

// Greeter is the service measured: a small call and a struct echo.
type Greeter interface {
	// SayHello returns "hello a b".
	SayHello(ctx context.Context, a, b string) (string, error)
	// Echo returns a copy of p.
	Echo(ctx context.Context, p *Payload) (Payload, error)
}

// The arguments of the hello call and its expected result.
const (
	HelloA     = "a"
	HelloB     = "b"
	HelloReply = "hello " + HelloA + " " + HelloB
)

// Impl is the provider's implementation of Greeter.
type Impl struct{}

// SayHello returns "hello a b".
func (Impl) SayHello(_ context.Context, a, b string) (string, error) {
	return "hello " + a + " " + b, nil
}

// Echo returns *p.
func (Impl) Echo(_ context.Context, p *Payload) (Payload, error) {
	if p == nil {
		return Payload{}, nil
	}
	return *p, nil
}

// Payload is the echo argument: twenty fields of strings, integers, booleans and
// floats, about 800 bytes of JSON.
type Payload struct {
	ID          int64    `json:"id"`
	Name        string   `json:"name"`
	Email       string   `json:"email"`
	Active      bool     `json:"active"`
	Score       float64  `json:"score"`
	Age         int32    `json:"age"`
	Country     string   `json:"country"`
	City        string   `json:"city"`
	Street      string   `json:"street"`
	Zip         string   `json:"zip"`
	Phone       string   `json:"phone"`
	Tags        []string `json:"tags"`
	CreatedUnix int64    `json:"created_unix"`
	UpdatedUnix int64    `json:"updated_unix"`
	Balance     float64  `json:"balance"`
	Verified    bool     `json:"verified"`
	Visits      uint32   `json:"visits"`
	Rating      float32  `json:"rating"`
	Note        string   `json:"note"`
	Version     uint64   `json:"version"`
}

// Sample returns the payload the echo benchmark sends.
func Sample() Payload {
	return Payload{
		ID:          9_007_199_254_740_881,
		Name:        "Margaret Hamilton-Okonkwo",
		Email:       "margaret.hamilton-okonkwo@mail.example.com",
		Active:      true,
		Score:       9876.54321,
		Age:         -42,
		Country:     "Nederland",
		City:        "Amsterdam",
		Street:      "Keizersgracht 1234, third floor, back entrance by the canal",
		Zip:         "1015 CJ",
		Phone:       "+31 20 555 0199",
		Tags:        []string{"premium", "early-adopter", "newsletter", "beta-tester", "eu-west", "mobile-app", "two-factor", "invoice-by-mail"},
		CreatedUnix: 1_700_000_000_123_456_789,
		UpdatedUnix: 1_767_225_599_987_654_321,
		Balance:     -1234567.89,
		Verified:    true,
		Visits:      4_000_000_000,
		Rating:      4.75,
		Note:        "Prefers contact by e-mail between 09:00 and 17:00 CET; \"fragile\" items wrapped twice, delivered to the neighbour at number 1236 when nobody answers, never left at the door.",
		Version:     18_446_744_073_709_551_615,
	}
}

// Equal reports whether p and q hold the same values.
func Equal(p, q *Payload) bool {
	return p.ID == q.ID && p.Name == q.Name && p.Email == q.Email &&
		p.Active == q.Active && p.Score == q.Score && p.Age == q.Age &&
		p.Country == q.Country && p.City == q.City && p.Street == q.Street &&
		p.Zip == q.Zip && p.Phone == q.Phone && slices.Equal(p.Tags, q.Tags) &&
		p.CreatedUnix == q.CreatedUnix && p.UpdatedUnix == q.UpdatedUnix &&
		p.Balance == q.Balance && p.Verified == q.Verified && p.Visits == q.Visits &&
		p.Rating == q.Rating && p.Note == q.Note && p.Version == q.Version
}
