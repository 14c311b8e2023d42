package rpc

import "testing"

// BenchmarkCallRecycle is what a server call pays to take a Call from the pool and give
// it back.
func BenchmarkCallRecycle(b *testing.B) {
	svc := &ServiceDesc{Name: "S"}
	m := &MethodDesc{Name: "M"}
	body := []byte(`["a","b"]`)
	for b.Loop() {
		c := getCall(svc, m)
		c.server, c.peer = true, "127.0.0.1:1"
		c.dec.start(body, true)
		c.res.reset(c.body, true)
		putCall(c)
	}
}
