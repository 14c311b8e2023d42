// Package describe has the struct shapes a descriptor describes: tags, embedding,
// unexported fields, options, recursion and types of other packages.
package describe

import (
	"context"
	"net/url"
	"time"
)

// Base is embedded: its fields are promoted.
type Base struct {
	Region string `json:"region"`
	Shadow string // hidden by Item.Shadow
	*Owner
}

// Owner is embedded by pointer: its fields, and those of the structs it embeds, are
// promoted through a pointer that may be nil (rpc.FieldDesc.Via).
type Owner struct {
	Team string `json:"team"`
	Desk
	*Seat
}

// Desk is embedded in Owner by value.
type Desk struct{ Floor int }

// Seat is embedded in Owner by pointer.
type Seat struct{ Row int }

// stamp is unexported and embedded: encoding/json promotes its exported fields.
type stamp struct {
	By string `json:"by"`
}

// Item has every kind of field.
type Item struct {
	Base
	stamp
	SKU     string            `json:"sku"`
	Qty     int               `json:"qty,string"`
	Price   float64           `json:"price,omitempty"`
	Since   time.Time         `json:"since,omitzero"`
	Attrs   map[Attr][]string `json:"attrs"`
	Link    *url.URL          `json:"link"`
	Parts   []*Item           `json:"parts"`
	Shadow  string
	Ignored string `json:"-"`
	secret  string
}

// Attr is a named string used as a map key.
type Attr string

// Catalog describes items.
type Catalog interface {
	Add(ctx context.Context, item Item, ttl time.Duration) (map[string]Item, error)
}
