//go:build !race

package rpc

// manyStreams is the streams TestManyStreamsOneConnection opens on one connection.
const manyStreams = 10000
