// Package v1 is the first version of a service whose next version appends a
// parameter and a field: the evolution tests call one version with the other.
package v1

import "context"

//go:generate go tool ringrpc-gen -type Store

// Item is what the store keeps.
type Item struct {
	Name  string `json:"name"`
	Count int    `json:"count"`
}

// Store is version 1.
//
//ringrpc:service evolve.Store
type Store interface {
	// Put stores item under key and returns the item as stored.
	Put(ctx context.Context, key string, item Item) (Item, error)
	// Find describes what it was asked for key.
	Find(ctx context.Context, key string) (string, error)
}
