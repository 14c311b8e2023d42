package rpc

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ringrpc/ringrpc/transport"
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
	watched := goWatch(ctx, c, greeterDesc.Name, StatusServing)
	s.SetServingStatus(greeterDesc.Name, StatusNotServing)
	if a := waitFor(t, watched, "Watch to see the change"); a.err != nil || a.st != StatusNotServing {
		t.Fatalf("Watch saw %v, %v", a.st, a.err)
	}
	if got := waitFor(t, changes, "the change callback"); got != greeterDesc.Name+"=NOT_SERVING" {
		t.Fatalf("callback saw %s", got)
	}
	// Without a change, Watch answers just before the caller's deadline.
	// The answer comes a tenth of the deadline before it: 200 ms, room for a slow machine.
	short, cancel := context.WithTimeout(ctx, 2*time.Second)
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

// probeHealth returns the probe handler's answer for service.
func probeHealth(s *Server, service string) (int, string) {
	rec := httptest.NewRecorder()
	s.HealthHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/healthz?service="+service, nil))
	return rec.Code, strings.TrimSpace(rec.Body.String())
}

// TestHealthOfUnregisteredServiceWithStatusSet: a status set for a service the server
// does not serve (a typo, or a service whose Register failed) does not make the server
// claim it: Check fails with service_not_found and the probe answers 404. The status
// holds once the service registers.
func TestHealthOfUnregisteredServiceWithStatusSet(t *testing.T) {
	s, _, addr := startGreeter(t, ServerOptions{})
	_, c := newGreeterClient(t, ClientOptions{Resolver: StaticAddress(addr)})
	ctx := context.Background()
	for _, st := range []ServingStatus{StatusServing, StatusNotServing} {
		s.SetServingStatus("no.Such", st)
		if code, body := probeHealth(s, "no.Such"); code != http.StatusNotFound || body != "UNKNOWN" {
			t.Errorf("probe of a service never registered, set %v: %d %q, want 404 UNKNOWN", st, code, body)
		}
		if got, err := c.CheckHealth(ctx, "no.Such"); !errors.Is(err, ErrServiceNotFound) {
			t.Errorf("Check of a service never registered, set %v = %v, %v; want service_not_found", st, got, err)
		}
	}
	late := &ServiceDesc{Name: "no.Such", Methods: []MethodDesc{{Name: "Ping"}}}
	if err := s.Register(late, []Handler{func(context.Context, *Decoder, *Encoder) error { return nil }}); err != nil {
		t.Fatal(err)
	}
	if code, body := probeHealth(s, "no.Such"); code != http.StatusServiceUnavailable || body != "NOT_SERVING" {
		t.Errorf("probe once registered: %d %q, want the status set before, 503 NOT_SERVING", code, body)
	}
	if got, err := c.CheckHealth(ctx, "no.Such"); err != nil || got != StatusNotServing {
		t.Errorf("Check once registered = %v, %v; want NOT_SERVING", got, err)
	}
}

// TestRegisterKeepsStatusSetMeanwhile: a status set while a service registers is
// never overwritten by the SERVING registration gives a service without one.
func TestRegisterKeepsStatusSetMeanwhile(t *testing.T) {
	for i := range 1000 {
		s := NewServer(ServerOptions{Logger: quiet})
		desc := &ServiceDesc{Name: fmt.Sprintf("race.S%d", i), Methods: []MethodDesc{{Name: "Ping"}}}
		done := make(chan struct{})
		go func() {
			defer close(done)
			s.SetServingStatus(desc.Name, StatusNotServing)
		}()
		if err := s.Register(desc, []Handler{func(context.Context, *Decoder, *Encoder) error { return nil }}); err != nil {
			t.Fatal(err)
		}
		<-done
		if st, _ := s.ServingStatus(desc.Name); st != StatusNotServing {
			t.Fatalf("iteration %d: status %v after NOT_SERVING was set during Register", i, st)
		}
		s.Close()
	}
}

// TestHealthOfServiceFollowsWholeServer: while the whole server is not SERVING, the
// registry takes it out of every ring, so Check, Watch and the probe of each of its
// services say so too, and say SERVING again when the server is.
func TestHealthOfServiceFollowsWholeServer(t *testing.T) {
	s, _, addr := startGreeter(t, ServerOptions{})
	_, c := newGreeterClient(t, ClientOptions{Resolver: StaticAddress(addr)})
	ctx := context.Background()
	watched := goWatch(ctx, c, greeterDesc.Name, StatusServing)
	if !eventually(func() bool { return s.health.watching() == 1 }) {
		t.Fatal("the Watch call never began to wait")
	}
	s.SetServingStatus("", StatusNotServing)
	if a := waitFor(t, watched, "Watch to see the server's change"); a.err != nil || a.st != StatusNotServing {
		t.Errorf("Watch of a service when the server became NOT_SERVING: %v, %v", a.st, a.err)
	}
	if code, body := probeHealth(s, greeterDesc.Name); code != http.StatusServiceUnavailable || body != "NOT_SERVING" {
		t.Errorf("probe of a service of a NOT_SERVING server: %d %q, want 503 NOT_SERVING", code, body)
	}
	if st, err := c.CheckHealth(ctx, greeterDesc.Name); err != nil || st != StatusNotServing {
		t.Errorf("Check of a service of a NOT_SERVING server = %v, %v", st, err)
	}
	if st, _ := s.ServingStatus(greeterDesc.Name); st != StatusServing {
		t.Errorf("ServingStatus of the service = %v, want SERVING as set", st)
	}
	s.SetServingStatus("", StatusServing)
	if code, _ := probeHealth(s, greeterDesc.Name); code != http.StatusOK {
		t.Errorf("probe of a service once the server is SERVING again: %d", code)
	}
}

// TestHealthWatchersDoNotStarveCalls: Watch calls wait on the health service's own
// workers, never on those of the services: with 2 workers and 2 waiting watchers,
// calls and Check are answered at once.
func TestHealthWatchersDoNotStarveCalls(t *testing.T) {
	s, _, addr := startGreeter(t, ServerOptions{Workers: 2})
	gc, cl := newGreeterClient(t, ClientOptions{Resolver: StaticAddress(addr)})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	done := make(chan error, 2)
	for range 2 {
		go func() {
			_, err := cl.WatchHealth(ctx, "", StatusServing)
			done <- err
		}()
	}
	if !eventually(func() bool { return s.health.watching() == 2 }) {
		t.Fatalf("%d Watch calls waiting, want 2", s.health.watching())
	}
	callCtx, cancelCall := context.WithTimeout(context.Background(), time.Second)
	defer cancelCall()
	start := time.Now()
	if _, err := gc.SayHello(callCtx, "a", "b"); err != nil {
		t.Errorf("a call while 2 Watch calls wait: %v after %v", err, time.Since(start).Round(time.Millisecond))
	}
	if _, err := cl.CheckHealth(callCtx, ""); err != nil {
		t.Errorf("a Check while 2 Watch calls wait: %v", err)
	}
	s.SetServingStatus("", StatusNotServing)
	for range 2 {
		if err := waitFor(t, done, "the watchers"); err != nil {
			t.Error(err)
		}
	}
}

// TestHealthWatchBounds: a Watch waits at most maxWatchWait, whatever its deadline
// (beyond maxWatchers waiting: TestHealthWatchBeyondCapIsBusy).
func TestHealthWatchBounds(t *testing.T) {
	s, _, addr := startGreeter(t, ServerOptions{})
	_, c := newGreeterClient(t, ClientOptions{Resolver: StaticAddress(addr)})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s.SetServingStatus("", StatusNotServing)
	s.health.mu.Lock()
	s.health.maxWait = 100 * time.Millisecond
	s.health.mu.Unlock()
	start := time.Now()
	if st, err := c.WatchHealth(ctx, "", StatusNotServing); err != nil || st != StatusNotServing {
		t.Errorf("a Watch past the longest wait = %v, %v; want the current status", st, err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("a Watch with a 20 s deadline and a wait of at most 100 ms answered after %v", d)
	}
}

// A Watch waiting when Shutdown begins answers at once, NOT_SERVING: it would hold
// the graceful shutdown for as long as it may wait, up to a minute.
func TestHealthWatchEndsAtShutdown(t *testing.T) {
	s, _, addr := startGreeter(t, ServerOptions{})
	_, c := newGreeterClient(t, ClientOptions{Resolver: StaticAddress(addr)})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()
	done := goWatch(ctx, c, "", StatusServing)
	if !eventually(func() bool { return s.health.watching() == 1 }) {
		t.Fatalf("%d Watch calls waiting, want 1", s.health.watching())
	}
	sctx, scancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer scancel()
	start := time.Now()
	if err := s.Shutdown(sctx); err != nil {
		t.Fatalf("Shutdown with a Watch waiting: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Shutdown took %v with a Watch waiting, want it answered at once", d)
	}
	a := <-done
	if a.err != nil || a.st != StatusNotServing {
		t.Errorf("the Watch waiting at Shutdown = %v, %v; want NOT_SERVING", a.st, a.err)
	}
}

// A Watch of a service not registered yet answers when it registers, with a status
// set for it before as with none.
func TestHealthWatchSeesRegistration(t *testing.T) {
	for _, preset := range []bool{false, true} {
		t.Run(fmt.Sprintf("status set before: %v", preset), func(t *testing.T) {
			s := NewServer(ServerOptions{Logger: quiet, Transport: transport.ServerOptions{ConnOptions: transport.ConnOptions{Logger: quiet}}})
			if preset {
				s.SetServingStatus(greeterDesc.Name, StatusServing)
			}
			addr := serve(t, s.Serve, s.Close)
			_, c := newGreeterClient(t, ClientOptions{Resolver: StaticAddress(addr)})
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			done := goWatch(ctx, c, greeterDesc.Name, StatusUnknown)
			if !eventually(func() bool { return s.health.watching() == 1 }) {
				t.Fatalf("%d Watch calls waiting, want 1", s.health.watching())
			}
			start := time.Now()
			if err := registerGreeter(s, newGreeter()); err != nil {
				t.Fatal(err)
			}
			a := <-done
			if a.err != nil || a.st != StatusServing {
				t.Errorf("a Watch of a service as it registers = %v, %v; want SERVING", a.st, a.err)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("the Watch answered %v after the service registered, want at once", d)
			}
		})
	}
}

// TestHealthWatchBeyondCapIsBusy: a Watch beyond the maxWatchers waiting is refused
// with a busy error, not answered with the status the caller already has: a watcher
// looping on what Watch returns would otherwise call again at once, for ever.
func TestHealthWatchBeyondCapIsBusy(t *testing.T) {
	s, _, addr := startLedger(t, ServerOptions{})
	c := newLedgerClient(t, ClientOptions{Resolver: StaticAddress(addr)})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	done := make(chan error, maxWatchers)
	for range maxWatchers {
		go func() {
			_, err := c.WatchHealth(ctx, "", StatusServing)
			done <- err
		}()
	}
	if !eventually(func() bool { return s.health.watching() == maxWatchers }) {
		t.Fatalf("%d Watch calls waiting, want %d", s.health.watching(), maxWatchers)
	}
	// A gRPC-style watcher: call again with what the last call returned.
	loop, stop := context.WithTimeout(ctx, 300*time.Millisecond)
	defer stop()
	calls, st := 0, StatusServing
	var err error
	for loop.Err() == nil && err == nil {
		st, err = c.WatchHealth(ctx, "", st)
		calls++
	}
	if CodeOf(err) != CodeBusy || !strings.Contains(err.Error(), "call again later") {
		t.Errorf("a Watch beyond %d waiting = %v, %v after %d calls; want busy, saying to call again later", maxWatchers, st, err, calls)
	}
	if calls > 1 {
		t.Errorf("a watcher looping on Watch made %d calls while %d others waited and nothing changed", calls, maxWatchers)
	}
	s.SetServingStatus("", StatusNotServing)
	for range maxWatchers {
		if err := waitFor(t, done, "the watchers"); err != nil {
			t.Error(err)
		}
	}
}

// TestHealthWatchOfUnregisteredService: Watch says service_not_found of a service
// the server does not serve, as Check does, when the caller believes it has a status;
// with last UNKNOWN it waits for the service to register (TestHealthWatchSeesRegistration).
func TestHealthWatchOfUnregisteredService(t *testing.T) {
	s, _, addr := startLedger(t, ServerOptions{})
	c := newLedgerClient(t, ClientOptions{Resolver: StaticAddress(addr)})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := c.CheckHealth(ctx, "no.such.Service"); CodeOf(err) != CodeServiceNotFound {
		t.Fatalf("Check of a service not registered: %v", err)
	}
	s.SetServingStatus("set.but.not.Registered", StatusServing)
	for _, service := range []string{"no.such.Service", "set.but.not.Registered"} {
		for _, last := range []ServingStatus{StatusServing, StatusNotServing} {
			start := time.Now()
			st, err := c.WatchHealth(ctx, service, last)
			if CodeOf(err) != CodeServiceNotFound {
				t.Errorf("Watch(%q, %v) = %v, %v; want service_not_found, as Check", service, last, st, err)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("Watch(%q, %v) answered after %v, want at once", service, last, d)
			}
		}
	}
	short, cancelShort := context.WithTimeout(ctx, 2*time.Second) // answered 200 ms before it
	defer cancelShort()
	if st, err := c.WatchHealth(short, "no.such.Service", StatusUnknown); err != nil || st != StatusUnknown {
		t.Errorf("Watch(%q, UNKNOWN) until its deadline = %v, %v; want UNKNOWN", "no.such.Service", st, err)
	}
}

// TestRegisterFailureSetsNoStatus: a Register that fails gives the service no
// status and tells OnServingStatus nothing; a duplicate leaves the status of the
// service registered first as it was.
func TestRegisterFailureSetsNoStatus(t *testing.T) {
	s := NewServer(ServerOptions{Logger: quiet, Pools: map[string]PoolOptions{"pooled.S": {Workers: 1}}})
	defer s.Close()
	ping := []Handler{func(context.Context, *Decoder, *Encoder) error { return nil }}
	desc := &ServiceDesc{Name: "pooled.S", Methods: []MethodDesc{{Name: "Ping"}}}
	if err := s.Register(desc, ping); err != nil {
		t.Fatal(err)
	}
	s.SetServingStatus(desc.Name, StatusNotServing)
	heard := make(chan string, 4)
	s.OnServingStatus(func(service string, st ServingStatus) { heard <- service + "=" + st.String() })
	if err := s.Register(&ServiceDesc{Name: desc.Name, Methods: desc.Methods}, ping); err == nil {
		t.Fatal("a second Register of one name succeeded")
	}
	if st, _ := s.ServingStatus(desc.Name); st != StatusNotServing {
		t.Errorf("ServingStatus after a duplicate Register = %v, want NOT_SERVING as set", st)
	}
	for _, name := range []string{HealthService, IntrospectionService} {
		if err := s.Register(&ServiceDesc{Name: name, Methods: desc.Methods}, ping); err == nil {
			t.Fatalf("Register under the name %s succeeded", name)
		}
		if st, ok := s.ServingStatus(name); ok {
			t.Errorf("ServingStatus of %s after its Register failed = %v, true; want none", name, st)
		}
	}
	select {
	case h := <-heard:
		t.Errorf("OnServingStatus heard %s of a Register that failed", h)
	default:
	}
}

// TestHealthAtShutdownAgrees: once Shutdown begins, the whole server is NOT_SERVING for
// Check, the probe, ServingStatus and OnServingStatus as for Watch, while the calls in
// flight drain; a Watch that waits with last NOT_SERVING is told the server is going
// away instead of being answered the status it has; and SERVING set during the
// drain does not hold.
func TestHealthAtShutdownAgrees(t *testing.T) {
	s, l, addr := startLedger(t, ServerOptions{})
	var gateOnce sync.Once
	openGate := func() { gateOnce.Do(func() { close(l.gate) }) }
	defer openGate() // on failure too: the server's cleanup waits for the handler
	c := newLedgerClient(t, ClientOptions{Resolver: StaticAddress(addr)})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	heard := make(chan string, 8)
	s.OnServingStatus(func(service string, st ServingStatus) { heard <- service + "=" + st.String() })
	s.SetServingStatus(ledgerDesc.Name, StatusNotServing)
	waitFor(t, heard, "the service's change")
	whole, svc := goWatch(ctx, c, "", StatusServing), goWatch(ctx, c, ledgerDesc.Name, StatusNotServing)
	if !eventually(func() bool { return s.health.watching() == 2 }) {
		t.Fatalf("%d Watch calls waiting, want 2", s.health.watching())
	}
	held := make(chan error, 1)
	go func() { // holds the drain until the gate opens
		_, err := ledgerCall(c, ctx, 0, 2)
		held <- err
	}()
	waitFor(t, l.started, "the call that holds the drain")
	shut := make(chan error, 1)
	go func() { shut <- s.Shutdown(ctx) }()

	if a := waitFor(t, whole, "the server's watcher"); a.err != nil || a.st != StatusNotServing {
		t.Errorf("Watch of the server at Shutdown = %v, %v; want NOT_SERVING", a.st, a.err)
	}
	if a := waitFor(t, svc, "the service's watcher"); CodeOf(a.err) != CodeUnavailable || !strings.Contains(a.err.Error(), "shutting down") {
		t.Errorf("Watch(NOT_SERVING) of a service at Shutdown = %v, %v; want unavailable, shutting down", a.st, a.err)
	}
	if got := waitFor(t, heard, "the server's change at Shutdown"); got != "=NOT_SERVING" {
		t.Errorf("OnServingStatus at Shutdown heard %s", got)
	}
	s.SetServingStatus("", StatusServing)
	if st, _ := s.ServingStatus(""); st != StatusNotServing {
		t.Errorf("ServingStatus(\"\") during the drain = %v, want NOT_SERVING", st)
	}
	for _, service := range []string{"", ledgerDesc.Name} {
		if code, body := probeHealth(s, service); code != http.StatusServiceUnavailable || body != "NOT_SERVING" {
			t.Errorf("probe of %q during the drain: %d %q, want 503 NOT_SERVING", service, code, body)
		}
	}
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned %v with a call in flight", err)
	default:
	}
	openGate()
	if err := waitFor(t, held, "the call in flight"); err != nil {
		t.Errorf("the call in flight at Shutdown: %v", err)
	}
	if err := waitFor(t, shut, "Shutdown"); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}

// TestSelectHealth: the health service's requests go to its pool wherever their
// header puts the service name (first, as rpc's callers do, or after other fields, as
// a foreign caller may), and no other request does.
func TestSelectHealth(t *testing.T) {
	s := NewServer(ServerOptions{Logger: quiet})
	defer s.Close()
	md := transport.Field{Key: metadataPrefix + "a", Value: HealthService}
	for _, tc := range []struct {
		name   string
		fields transport.Fields
		health bool
	}{
		{"first", transport.Fields{{Key: HeaderInterface, Value: HealthService}, {Key: HeaderMethod, Value: "Check"}, md}, true},
		{"after others", transport.Fields{{Key: "aForeignKey", Value: "x"}, {Key: HeaderMethod, Value: "Check"}, {Key: HeaderInterface, Value: HealthService}}, true},
		{"another service first", transport.Fields{{Key: HeaderInterface, Value: greeterDesc.Name}, {Key: HeaderMethod, Value: "Check"}, md}, false},
		{"another service after others", transport.Fields{{Key: "aForeignKey", Value: HealthService}, {Key: HeaderInterface, Value: greeterDesc.Name}}, false},
		{"no service", transport.Fields{{Key: HeaderMethod, Value: "Check"}, md}, false},
		{"no fields", nil, false},
	} {
		req := transport.NewRequest(RequestCode, tc.fields, nil)
		if got := s.selectHealth(req) != nil; got != tc.health {
			t.Errorf("%s: picked the health pool: %v, want %v", tc.name, got, tc.health)
		}
	}
}

// TestHealthPoolRunsTheServiceNamed: a request that names two services runs on the
// pool of the one it runs, the later: picked for the health pool, it runs the health
// service (which has no SayHello) and never the greeter's handler on the health
// workers; picked for the greeter's own pool, it runs the greeter there.
func TestHealthPoolRunsTheServiceNamed(t *testing.T) {
	_, _, addr := startGreeter(t, ServerOptions{Pools: map[string]PoolOptions{greeterDesc.Name: {Workers: 1}}})
	c := transport.NewClient(transport.ClientOptions{ConnOptions: transport.ConnOptions{Logger: quiet}})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, tc := range []struct {
		first, last string
		code        int32
	}{
		{HealthService, greeterDesc.Name, transport.CodeSuccess},
		{greeterDesc.Name, HealthService, toWire(CodeMethodNotFound)},
	} {
		req := transport.NewRequest(RequestCode, transport.Fields{
			{Key: HeaderInterface, Value: tc.first},
			{Key: HeaderMethod, Value: "SayHello"},
			{Key: HeaderInterface, Value: tc.last},
		}, []byte(`["a","b"]`))
		resp, err := c.InvokeSync(ctx, addr, req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.Code != tc.code {
			t.Errorf("SayHello named %s then %s: code %d %q, want %d", tc.first, tc.last, resp.Code, resp.Remark, tc.code)
		}
	}
}

// TestHealthWatchNeverRunsOnServiceWorkers: a request that names a service, then the
// health service, runs the health service on the health pool: a Watch it carries is
// never run on the services' workers, where it would hold one until its deadline.
func TestHealthWatchNeverRunsOnServiceWorkers(t *testing.T) {
	s, _, addr := startGreeter(t, ServerOptions{Workers: 1})
	tc := transport.NewClient(transport.ClientOptions{ConnOptions: transport.ConnOptions{Logger: quiet}})
	defer tc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	watch := transport.NewRequest(RequestCode, transport.Fields{
		{Key: HeaderInterface, Value: greeterDesc.Name},
		{Key: HeaderMethod, Value: "Watch"},
		{Key: HeaderInterface, Value: HealthService},
		{Key: headerTimeout, Value: "5000"},
	}, []byte(`["",1]`))
	answered := make(chan *transport.Command, 1)
	go func() {
		resp, err := tc.InvokeSync(ctx, addr, watch)
		if err != nil {
			t.Error(err)
		}
		answered <- resp
	}()
	if !eventually(func() bool { return len(answered) == 1 || s.health.watching() == 1 }) {
		t.Fatal("the request naming the greeter then the health service was neither answered nor waiting")
	}
	g, _ := newGreeterClient(t, ClientOptions{Resolver: StaticAddress(addr)})
	callCtx, cancelCall := context.WithTimeout(ctx, time.Second)
	defer cancelCall()
	start := time.Now()
	if _, err := g.SayHello(callCtx, "a", "b"); err != nil {
		t.Errorf("a call of the service while a Watch waits: %v after %v: the Watch took the service's only worker", err, time.Since(start))
	}
	s.SetServingStatus("", StatusNotServing) // the Watch answers
	if resp := waitFor(t, answered, "the answer to Watch named after the greeter"); resp != nil && resp.Code != transport.CodeSuccess {
		t.Errorf("Watch named %s then %s: code %d %q, want the health service's answer", greeterDesc.Name, HealthService, resp.Code, resp.Remark)
	}
}

// watchAnswer is what a WatchHealth call returned.
type watchAnswer struct {
	st  ServingStatus
	err error
}

// goWatch calls c.WatchHealth on a goroutine that ends with the call, and returns
// the channel its answer arrives on.
func goWatch(ctx context.Context, c *Client, service string, last ServingStatus) <-chan watchAnswer {
	done := make(chan watchAnswer, 1)
	go func() {
		st, err := c.WatchHealth(ctx, service, last)
		done <- watchAnswer{st, err}
	}()
	return done
}

// watching returns the number of Watch calls waiting.
func (h *health) watching() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.waiting
}
