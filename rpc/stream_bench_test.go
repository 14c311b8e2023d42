package rpc

import (
	"context"
	"testing"
)

// BenchmarkServerStream receives b.N small messages over one server stream.
func BenchmarkServerStream(b *testing.B) {
	_, f, addr := startFeed(b, ServerOptions{})
	fc, _ := newFeedClient(b, addr, ClientOptions{})
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	for _, err := range fc.Watch(context.Background(), "count", b.N) {
		if err != nil {
			b.Fatal(err)
		}
		n++
	}
	b.StopTimer()
	if n != b.N {
		b.Fatalf("%d messages, want %d", n, b.N)
	}
	<-f.ended
}
