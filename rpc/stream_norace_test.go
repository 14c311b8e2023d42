//go:build !race

package rpc

// manyStreams is the streams TestManyStreamsOneConnection opens on one connection.
const manyStreams = 10000

// raceDetector says whether the race detector runs: it makes sync.Pool drop what it
// is given at random, and so allocations vary.
const raceDetector = false
