// Package debugpage renders the /debug/ringrpc page of an rpc.Server or a registry:
// one server-rendered HTML page, no script and no external asset, or its data as
// JSON with ?format=json.
package debugpage

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/ringrpc/ringrpc/transport"
)

// Page is what the page shows. Empty sections are left out.
type Page struct {
	Title     string    `json:"-"`
	Node      string    `json:"node,omitempty"`
	Addr      string    `json:"addr,omitempty"`
	Generated time.Time `json:"generated"`
	// Registry is set on a registry's page: members and services are shown, even
	// when there are none.
	Registry bool      `json:"-"`
	Health   []Health  `json:"health,omitempty"`
	Members  []Member  `json:"members,omitempty"`
	Services []Service `json:"services,omitempty"`
	Methods  []Method  `json:"methods,omitempty"`
	// CountedSince is when the server began counting the methods' calls.
	CountedSince time.Time `json:"countedSince,omitzero"`
	Conns        []Conn    `json:"conns,omitempty"`
}

// Health is the serving status of a server ("" service) or of one of its services.
type Health struct {
	Service string `json:"service"`
	Status  string `json:"status"`
}

// Member is a cluster member as the page's node sees it.
type Member struct {
	Name       string   `json:"name"`
	State      string   `json:"state"`
	GossipAddr string   `json:"gossip"`
	RPCAddr    string   `json:"rpc,omitempty"`
	Services   []string `json:"services,omitempty"`
	// NotServing lists the services the member said are NOT_SERVING; ["*"] for the
	// whole server.
	NotServing []string `json:"notServing,omitempty"`
	Leaving    bool     `json:"leaving,omitempty"`
	Self       bool     `json:"self,omitempty"`
}

// Service is a service's ring: its providers and who owns each partition.
type Service struct {
	Name      string     `json:"name"`
	Checksum  string     `json:"checksum"`
	Providers []Provider `json:"providers"`
	// Owners gives, per partition, the index in Providers of its owner.
	Owners []int `json:"owners"`
	Arcs   []Arc `json:"-"`
}

// Provider is a provider's share of a ring.
type Provider struct {
	Node       string  `json:"node"`
	Addr       string  `json:"addr"`
	Partitions int     `json:"partitions"`
	Share      float64 `json:"share"`
	Color      string  `json:"-"`
}

// Arc is a run of partitions with one owner, drawn as a piece of a ring.
type Arc struct {
	Path  string
	Color string
	Label string
}

// Method is what a server counted for one method.
type Method struct {
	Service   string            `json:"service"`
	Method    string            `json:"method"`
	Calls     uint64            `json:"calls"`
	Errors    uint64            `json:"errors"`
	ErrorRate float64           `json:"errorRate"`
	Codes     map[string]uint64 `json:"codes,omitempty"`
	P50       time.Duration     `json:"p50"`
	P90       time.Duration     `json:"p90"`
	P99       time.Duration     `json:"p99"`
}

// CodeList returns the error counts by code, sorted by name, for display.
func (m Method) CodeList() string {
	var parts []string
	for _, c := range slices.Sorted(maps.Keys(m.Codes)) {
		parts = append(parts, fmt.Sprintf("%s %d", c, m.Codes[c]))
	}
	return strings.Join(parts, ", ")
}

// Conn is an open connection and its calls under way.
type Conn struct {
	// Side is "in" for a connection a client opened to this server, "out" for one
	// this node's client opened.
	Side   string `json:"side"`
	Peer   string `json:"peer"`
	Local  string `json:"local"`
	Status string `json:"status"`
	// Pending counts the calls sent on the connection that wait for a response.
	Pending int `json:"pending"`
	// Handling counts the requests received on it not answered yet.
	Handling int `json:"handling"`
}

// Conns describes connections of one side, sorted by peer.
func Conns(side string, cs []*transport.Conn) []Conn {
	out := make([]Conn, 0, len(cs))
	for _, c := range cs {
		status := "open"
		select {
		case <-c.Closed():
			status = "closing"
		default:
		}
		out = append(out, Conn{Side: side, Peer: c.Peer(), Local: c.LocalAddr().String(), Status: status,
			Pending: c.Pending(), Handling: c.Handling()})
	}
	slices.SortFunc(out, func(a, b Conn) int { return strings.Compare(a.Peer, b.Peer) })
	return out
}

// Color returns the colour of the i-th provider, as #rrggbb: hues a golden angle
// apart, so that neighbours differ however many there are.
func Color(i int) string {
	h := math.Mod(float64(i)*137.508+210, 360) / 60
	const s, l = 0.70, 0.48
	c := (1 - math.Abs(2*l-1)) * s
	x := c * (1 - math.Abs(math.Mod(h, 2)-1))
	var r, g, b float64
	switch int(h) {
	case 0:
		r, g = c, x
	case 1:
		r, g = x, c
	case 2:
		g, b = c, x
	case 3:
		g, b = x, c
	case 4:
		r, b = x, c
	default:
		r, b = c, x
	}
	m := l - c/2
	byte8 := func(v float64) int { return int(math.Round((v + m) * 255)) }
	return fmt.Sprintf("#%02x%02x%02x", byte8(r), byte8(g), byte8(b))
}

// Ring geometry, in the SVG's user units: the ring spans radii inner to outer
// around the origin.
const (
	outer = 100.0
	inner = 62.0
)

// Arcs draws a ring whose partition p is owned by providers[owners[p]]: consecutive
// partitions of one owner make one arc, clockwise from the top.
func Arcs(owners []int, providers []Provider) []Arc {
	n := len(owners)
	var arcs []Arc
	for start := 0; start < n; {
		end := start + 1
		for end < n && owners[end] == owners[start] {
			end++
		}
		p := providers[owners[start]]
		label := fmt.Sprintf("partitions %d-%d: %s", start, end-1, p.Node)
		if end-start == 1 {
			label = fmt.Sprintf("partition %d: %s", start, p.Node)
		}
		a0, a1 := 2*math.Pi*float64(start)/float64(n), 2*math.Pi*float64(end)/float64(n)
		if end-start == n { // one owner: two halves, as one arc cannot close a circle
			arcs = append(arcs, Arc{Path: arcPath(0, math.Pi), Color: p.Color, Label: label},
				Arc{Path: arcPath(math.Pi, 2*math.Pi), Color: p.Color, Label: label})
		} else {
			arcs = append(arcs, Arc{Path: arcPath(a0, a1), Color: p.Color, Label: label})
		}
		start = end
	}
	return arcs
}

// arcPath is the SVG path of the piece of the ring between angles a0 and a1.
func arcPath(a0, a1 float64) string {
	large := 0
	if a1-a0 > math.Pi {
		large = 1
	}
	pt := func(r, a float64) string { return fmt.Sprintf("%.2f %.2f", r*math.Sin(a), -r*math.Cos(a)) }
	return fmt.Sprintf("M%s A%g %g 0 %d 1 %s L%s A%g %g 0 %d 0 %sZ",
		pt(outer, a0), outer, outer, large, pt(outer, a1), pt(inner, a1), inner, inner, large, pt(inner, a0))
}

// Serve writes p as HTML, or as JSON when the request asks ?format=json.
func Serve(w http.ResponseWriter, r *http.Request, p *Page) {
	w.Header().Set("Cache-Control", "no-store")
	if r.URL.Query().Get("format") == "json" {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if err := enc.Encode(p); err != nil {
			http.Error(w, "encoding the debug page: "+err.Error(), http.StatusInternalServerError)
		}
		return
	}
	var buf bytes.Buffer
	if err := page.Execute(&buf, p); err != nil {
		http.Error(w, "rendering the debug page: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Write(buf.Bytes())
}
