package registry

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/ringrpc/ringrpc/rpc"
)

// The page's JSON holds the members with the services they do not serve, and each
// service's ring partition by partition.
func TestDebugPageJSON(t *testing.T) {
	nodes, _ := cluster(t, 2)
	providersOf(t, nodes[0].reg, whoDesc.Name, 2)
	nodes[1].server.SetServingStatus(whoDesc.Name, rpc.StatusNotServing)
	providersOf(t, nodes[0].reg, whoDesc.Name, 1)

	w := httptest.NewRecorder()
	nodes[0].reg.DebugHandler().ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/debug/ringrpc?format=json", nil))
	var page struct {
		Node      string
		Generated time.Time
		Members   []struct {
			Name       string
			State      string
			NotServing []string
			Self       bool
		}
		Services []struct {
			Name      string
			Providers []struct{ Node string }
			Owners    []int
		}
		Health []struct{ Service, Status string }
	}
	if err := json.Unmarshal(w.Body.Bytes(), &page); err != nil {
		t.Fatalf("%v: %s", err, w.Body)
	}
	if page.Node != "p0" || len(page.Members) != 2 || time.Since(page.Generated) > time.Minute {
		t.Fatalf("page: %s", w.Body)
	}
	m := page.Members[1]
	if m.Name != "p1" || m.State != "alive" || !slices.Equal(m.NotServing, []string{whoDesc.Name}) || m.Self || !page.Members[0].Self {
		t.Errorf("members: %+v", page.Members)
	}
	if len(page.Services) != 1 || len(page.Services[0].Providers) != 1 || page.Services[0].Providers[0].Node != "p0" || !slices.Equal(page.Services[0].Owners, []int{0}) {
		t.Errorf("services: %+v", page.Services)
	}
	if len(page.Health) != 2 || page.Health[1].Status != "SERVING" {
		t.Errorf("health: %+v", page.Health)
	}

	// p1 serves again: two providers share the 271 partitions.
	nodes[1].server.SetServingStatus(whoDesc.Name, rpc.StatusServing)
	providersOf(t, nodes[0].reg, whoDesc.Name, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := nodes[0].reg.WaitFor(ctx, func(Snapshot) bool {
		for _, m := range nodes[0].reg.debugMembers(nodes[0].reg.snap.Load()) {
			if m.Name == "p1" && len(m.NotServing) > 0 {
				return false
			}
		}
		return true
	}); err != nil {
		t.Fatal(err)
	}
	svcs := debugServices(nodes[0].reg.snap.Load())
	if len(svcs) != 1 || len(svcs[0].Owners) != 271 || len(svcs[0].Arcs) < 2 {
		t.Fatalf("the ring of two providers: %d partitions, %d arcs", len(svcs[0].Owners), len(svcs[0].Arcs))
	}
}
