package registry

import (
	"reflect"
	"testing"
)

// FuzzWire feeds arbitrary bytes to every decoder of gossip input: none may panic, and
// what decodes must encode back to an equal value.
func FuzzWire(f *testing.F) {
	meta, _ := encodeMeta(nodeMeta{rpcAddr: "127.0.0.1:7001", version: 7, services: 2})
	f.Add(meta)
	f.Add(encodeCatalog(catalog{node: "n1", rpcAddr: "127.0.0.1:7001", version: 9, services: []string{"a.B", "c.D"}}))
	f.Add(encodeCatalogRequest(catalogRequest{node: "n2", ip: []byte{127, 0, 0, 1}, port: 7946}))
	f.Add([]byte{msgCatalog, wireVersion, 0, 1, 'x', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff})
	f.Add(encodeDigest(digestMsg{ringDigest{node: "n3", seq: 5, digest: 77}, []byte{127, 0, 0, 1}, 7946}))
	f.Add(encodeState(catalog{node: "n1", version: 9, services: []string{"a.B"}}, []ringDigest{{node: "n1", seq: 2, digest: 3}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		if m, err := decodeMeta(b); err == nil {
			again, err := encodeMeta(m)
			if err != nil {
				t.Fatal(err)
			}
			if m2, _ := decodeMeta(again); m2 != m {
				t.Fatalf("meta round trip %+v != %+v", m2, m)
			}
		}
		if c, err := decodeCatalog(b); err == nil {
			if c2, err := decodeCatalog(encodeCatalog(c)); err != nil || !reflect.DeepEqual(c, c2) {
				t.Fatalf("catalog round trip %+v != %+v (%v)", c2, c, err)
			}
		}
		if d, err := decodeDigest(b); err == nil {
			if d2, err := decodeDigest(encodeDigest(d)); err != nil || !reflect.DeepEqual(d2, d) {
				t.Fatalf("digest round trip %+v != %+v (%v)", d2, d, err)
			}
		}
		if c, ds, err := decodeState(b); err == nil {
			c2, ds2, err := decodeState(encodeState(c, ds))
			if err != nil || !reflect.DeepEqual(c, c2) || len(ds) != len(ds2) || (len(ds) > 0 && !reflect.DeepEqual(ds, ds2)) {
				t.Fatalf("state round trip %+v %+v != %+v %+v (%v)", c2, ds2, c, ds, err)
			}
		}
		if q, err := decodeCatalogRequest(b); err == nil {
			if q2, err := decodeCatalogRequest(encodeCatalogRequest(q)); err != nil || !reflect.DeepEqual(q, q2) {
				t.Fatalf("request round trip %+v != %+v (%v)", q2, q, err)
			}
		}
	})
}
