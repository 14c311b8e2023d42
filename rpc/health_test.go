package rpc

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestHealth(t *testing.T) {
	s, _, addr := startGreeter(t, ServerOptions{})
	_, c := newGreeterClient(t, ClientOptions{Resolver: StaticAddress(addr)})
	ctx := context.Background()
	for _, tc := range []struct {
		service string
		want    ServingStatus
	}{
		{"", StatusServing},
		{greeterDesc.Name, StatusServing},
	} {
		if st, err := c.CheckHealth(ctx, tc.service); err != nil || st != tc.want {
			t.Fatalf("Check(%q) = %v, %v; want %v", tc.service, st, err, tc.want)
		}
	}
	if _, err := c.CheckHealth(ctx, "no.Such"); !errors.Is(err, ErrServiceNotFound) {
		t.Fatalf("Check of an unknown service: %v", err)
	}

	// Watch answers as soon as the status differs from the one the caller knows.
	changes := make(chan string, 4)
	s.OnServingStatus(func(service string, st ServingStatus) { changes <- service + "=" + st.String() })
	watched := make(chan ServingStatus, 1)
	go func() {
		st, err := c.WatchHealth(ctx, greeterDesc.Name, StatusServing)
		if err != nil {
			t.Error(err)
		}
		watched <- st
	}()
	s.SetServingStatus(greeterDesc.Name, StatusNotServing)
	if st := waitFor(t, watched, "Watch to see the change"); st != StatusNotServing {
		t.Fatalf("Watch saw %v", st)
	}
	if got := waitFor(t, changes, "the change callback"); got != greeterDesc.Name+"=NOT_SERVING" {
		t.Fatalf("callback saw %s", got)
	}
	// Without a change, Watch answers just before the caller's deadline.
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if st, err := c.WatchHealth(short, greeterDesc.Name, StatusNotServing); err != nil || st != StatusNotServing {
		t.Fatalf("Watch without a change: %v %v", st, err)
	}

	// The probe handler.
	h := s.HealthHandler()
	for _, tc := range []struct {
		query string
		code  int
		body  string
	}{
		{"", http.StatusOK, "SERVING"},
		{"?service=" + greeterDesc.Name, http.StatusServiceUnavailable, "NOT_SERVING"},
		{"?service=no.Such", http.StatusNotFound, "UNKNOWN"},
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/healthz"+tc.query, nil))
		if rec.Code != tc.code || strings.TrimSpace(rec.Body.String()) != tc.body {
			t.Errorf("GET /healthz%s = %d %q, want %d %q", tc.query, rec.Code, rec.Body, tc.code, tc.body)
		}
	}
}
