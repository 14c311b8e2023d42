// Package v2 is the second version of the service of package v1: Put has a trailing
// ttl parameter, Find optional ones, and Item a trailing field.
package v2

import (
	"context"
	"time"
)

//go:generate go tool ringrpc-gen -type Store

// Item is what the store keeps; Owner is new.
type Item struct {
	Name  string `json:"name"`
	Count int    `json:"count"`
	Owner string `json:"owner"`
}

// Store is version 2.
//
//ringrpc:service evolve.Store
type Store interface {
	// Put stores item under key for ttl seconds (0: for ever) and returns the item as
	// stored.
	Put(ctx context.Context, key string, item Item, ttl int) (Item, error)
	// Find describes what it was asked for key: each optional parameter a caller of
	// version 1 leaves out is nil.
	Find(ctx context.Context, key string, limit *int, since *time.Time, like *Item, tags []string, counts map[string]int) (string, error)
}
