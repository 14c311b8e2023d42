package registry

import (
	"reflect"
	"testing"
)

// The services a node does not serve travel in its catalog; a catalog without them,
// as older nodes write it, has every service serving.
func TestCatalogNotServing(t *testing.T) {
	for _, c := range []catalog{
		{node: "n1", rpcAddr: "127.0.0.1:7001", version: 3, services: []string{"a.B", "c.D"}},
		{node: "n1", rpcAddr: "127.0.0.1:7001", version: 4, services: []string{"a.B", "c.D"}, notServing: []string{"c.D"}},
	} {
		got, err := decodeCatalog(encodeCatalog(c))
		if err != nil || !reflect.DeepEqual(got, c) {
			t.Fatalf("%+v came back as %+v, %v", c, got, err)
		}
	}
	old := encodeCatalog(catalog{node: "n1", services: []string{"a.B"}})
	withSection := encodeCatalog(catalog{node: "n1", services: []string{"a.B"}, notServing: []string{"a.B"}})
	if !reflect.DeepEqual(withSection[:len(old)], old) {
		t.Fatal("the section of services not serving is not a suffix: older nodes would misread the catalog")
	}
	if _, err := decodeCatalog(append(old, 0, 0, 0, 9)); err == nil {
		t.Fatal("a section claiming 9 services in no bytes decoded")
	}
}
