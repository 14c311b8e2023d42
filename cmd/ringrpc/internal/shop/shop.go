// Package shop is a service with struct arguments, for the command's tests.
package shop

import (
	"context"
	"fmt"
	"time"
)

//go:generate go tool ringrpc-gen -type Shop

// Item is a line of an order.
type Item struct {
	SKU   string            `json:"sku"`
	Qty   int               `json:"qty"`
	Price float64           `json:"price,omitempty"`
	Tags  []string          `json:"tags,omitempty"`
	Attrs map[string]string `json:"attrs,omitempty"`
	Note  *Note             `json:"note,omitempty"`
}

// Note is a nested struct.
type Note struct {
	Text string
	At   time.Time `json:"at"`
}

// Cart is routed by its owner, whose JSON name differs from the Go one.
type Cart struct {
	Owner string `json:"owner_id"`
	Items []Item `json:"items"`
}

// Shop takes orders.
type Shop interface {
	// Add adds an item; calls for one SKU reach the same provider.
	//
	//ringrpc:routekey item.SKU
	Add(ctx context.Context, item Item) (int, error)
	// Checkout is routed by the cart's owner.
	//
	//ringrpc:routekey cart.Owner
	Checkout(ctx context.Context, cart *Cart) (string, error)
}

// Server implements Shop; its answers name it.
type Server struct{ Name string }

// Add returns the quantity.
func (s Server) Add(_ context.Context, item Item) (int, error) { return item.Qty, nil }

// Checkout names the owner and the server.
func (s Server) Checkout(_ context.Context, cart *Cart) (string, error) {
	return fmt.Sprintf("%s: %d items, at %s", cart.Owner, len(cart.Items), s.Name), nil
}
