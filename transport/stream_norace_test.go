//go:build !race

package transport

// raceBuild: the race detector multiplies what a process holds, so memory bounds are
// not asserted under it.
const raceBuild = false
