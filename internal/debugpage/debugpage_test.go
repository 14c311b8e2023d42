package debugpage

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestArcs(t *testing.T) {
	ps := []Provider{{Node: "a", Color: Color(0)}, {Node: "b", Color: Color(1)}}
	for _, tc := range []struct {
		name   string
		owners []int
		arcs   int
		labels []string
	}{
		{"one owner", []int{0}, 2, []string{"partition 0: a", "partition 0: a"}},
		{"runs", []int{0, 0, 1, 1, 1, 0}, 3, []string{"partitions 0-1: a", "partitions 2-4: b", "partition 5: a"}},
	} {
		arcs := Arcs(tc.owners, ps)
		if len(arcs) != tc.arcs {
			t.Fatalf("%s: %d arcs", tc.name, len(arcs))
		}
		for i, a := range arcs {
			if a.Label != tc.labels[i] || !strings.HasPrefix(a.Path, "M") || !strings.HasSuffix(a.Path, "Z") {
				t.Errorf("%s: arc %d is %+v", tc.name, i, a)
			}
		}
	}
	seen := map[string]bool{}
	for i := range 12 {
		c := Color(i)
		if !regexp.MustCompile(`^#[0-9a-f]{6}$`).MatchString(c) || seen[c] {
			t.Fatalf("colour %d is %q (seen: %v)", i, c, seen[c])
		}
		seen[c] = true
	}
}

// Names on the page are escaped: a service name is whatever a provider announced.
func TestServeEscapes(t *testing.T) {
	p := &Page{Title: "t", Generated: time.Now(), Registry: true,
		Services: []Service{{Name: `<script>alert(1)</script>`, Providers: []Provider{{Node: "n", Color: Color(0)}}, Owners: []int{0}}}}
	p.Services[0].Arcs = Arcs(p.Services[0].Owners, p.Services[0].Providers)
	w := httptest.NewRecorder()
	Serve(w, httptest.NewRequest(http.MethodGet, "/debug/ringrpc", nil), p)
	if body := w.Body.String(); strings.Contains(body, "<script>") || !strings.Contains(body, "&lt;script&gt;") {
		t.Fatalf("the name was not escaped:\n%s", body)
	}
}
