// Package bench compares ringrpc with gRPC over protobuf, net/rpc over gob and a raw
// TCP echo. It is its own module so that the peers' dependencies stay out of
// ringrpc's go.mod. Run the comparison with
//
//	go run ./cmd/peers
//
// and the quick correctness check of every peer with go test.
package bench
