package greeter

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestSample(t *testing.T) {
	p := Sample()
	if n := reflect.TypeFor[Payload]().NumField(); n != 20 {
		t.Errorf("Payload has %d fields, want 20", n)
	}
	b, err := json.Marshal(&p)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 750 || len(b) > 850 {
		t.Errorf("the sample is %d bytes of JSON, want about 800", len(b))
	}
	var q Payload
	if err := json.Unmarshal(b, &q); err != nil || !Equal(&p, &q) || !reflect.DeepEqual(p, q) {
		t.Errorf("round trip through JSON: %v, %+v", err, q)
	}
	q.Tags = append([]string(nil), q.Tags...)
	q.Tags[0] = "other"
	if Equal(&p, &q) {
		t.Error("Equal missed a different tag")
	}
}
