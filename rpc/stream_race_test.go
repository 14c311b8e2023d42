//go:build race

package rpc

// manyStreams is smaller under the race detector, which allows 8128 goroutines.
const manyStreams = 2000
