//go:build race

package rpc

// manyStreams is smaller under the race detector, which allows 8128 goroutines.
const manyStreams = 2000

// raceDetector says whether the race detector runs: it makes sync.Pool drop what it
// is given at random, and so allocations vary.
const raceDetector = true
