// Package codegen reads Go interfaces with go/packages and writes, for each, a typed
// client that implements the interface, an async client whose methods return futures,
// and a server dispatcher, all on top of package rpc.
//
// The work is split in four: load (packages to interfaces), model (interfaces to
// services, with every check), names (identifiers and imports of the output) and emit
// (the Go source, gofmt'd).
package codegen
