package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ringrpc/ringrpc/cmd/ringrpc/internal/shop"
	"github.com/ringrpc/ringrpc/example/hello"
	"github.com/ringrpc/ringrpc/registry"
	"github.com/ringrpc/ringrpc/rpc"
	"github.com/ringrpc/ringrpc/transport"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("github.com/hashicorp/memberlist.(*Memberlist).probeNode"))
}

// provider serves the example services and joins a fast cluster; it returns the RPC
// and gossip addresses.
func provider(t *testing.T) (string, string) {
	t.Helper()
	return providerNamed(t, "p1", nil)
}

func providerNamed(t *testing.T, name string, seeds []string) (string, string) {
	t.Helper()
	return providerWith(t, name, seeds, registry.Fast)
}

// providerWith is providerNamed with a preset: tests that compare routings need
// one whose members do not flap when the race detector slows them down.
func providerWith(t *testing.T, name string, seeds []string, preset registry.Preset) (string, string) {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv := rpc.NewServer(rpc.ServerOptions{Logger: log})
	svc := &hello.Service{Name: name, Log: log}
	if err := hello.RegisterHelloServer(srv, svc); err != nil {
		t.Fatal(err)
	}
	if err := hello.RegisterWorldServer(srv, svc); err != nil {
		t.Fatal(err)
	}
	if err := shop.RegisterShopServer(srv, shop.Server{Name: name}); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	reg, err := registry.Join(context.Background(), registry.Options{NodeName: name, Seeds: seeds, Preset: preset, Server: srv, RPCAddr: ln.Addr().String(), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close(); srv.Close() })
	return ln.Addr().String(), reg.GossipAddr()
}

var quietLog = slog.New(slog.NewTextHandler(io.Discard, nil))

func runCLI(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestCLI(t *testing.T) {
	addr, seed := provider(t)
	tests := []struct {
		name string
		args []string
		code int
		out  string // in stdout
		err  string // in stderr
	}{
		{"call by address", []string{"call", "--addr", addr, hello.HelloServiceName, "SayHello", `["a","b"]`}, 0, `"hello a b"`, ""},
		{"call an int method", []string{"call", "--addr", addr, hello.HelloServiceName, "SayHelloInteger", `[1, 2]`}, 0, "1003", ""},
		{"call oneway", []string{"call", "--addr", addr, hello.WorldServiceName, "SayWorld", `["a","b"]`}, 0, "", "sent: a oneway method has no answer"},
		{"route key by address", []string{"call", "--addr", addr, "--route-key", "k", hello.HelloServiceName, "SayHello", `["a","b"]`}, 2, "", "--route-key picks a provider on the ring: give it with --seed, not --addr"},
		{"call through the cluster with a key", []string{"call", "--seed", seed, "--preset", "fast", "--route-key", "user-1", hello.HelloServiceName, "Greet", `["user-1"]`}, 0, `"hi user-1, from p1"`, ""},
		{"flags after the arguments", []string{"ring", hello.HelloServiceName, "--seed", seed, "--preset", "fast"}, 0, "100.0%", ""},
		{"flags between the arguments", []string{"call", hello.HelloServiceName, "--addr", addr, "SayHello", `["a","b"]`}, 0, `"hello a b"`, ""},
		{"arguments after --", []string{"call", "--addr", addr, "--", hello.HelloServiceName, "SayHello", `["a","b"]`}, 0, `"hello a b"`, ""},
		{"--addr and --seed conflict", []string{"services", "--addr", addr, "--seed", seed}, 2, "", "--addr and --seed conflict"},
		{"members takes no --addr", []string{"members", "--addr", addr}, 2, "", "flag provided but not defined: -addr"},
		{"members takes no arguments", []string{"members", "--seed", seed, "x"}, 2, "", "takes no arguments"},
		{"oneway: argument count", []string{"call", "--addr", addr, hello.WorldServiceName, "SayWorld", `["a"]`}, 2, "", "SayWorld takes 2 arguments, (a string, b string); got 1"},
		{"oneway: argument type", []string{"call", "--addr", addr, hello.WorldServiceName, "SayWorld", `["a", 2]`}, 2, "", "argument 2 (b): want a string (string), got an integer"},
		{"an integer argument", []string{"call", "--addr", addr, hello.HelloServiceName, "SayHelloInteger", `[1, 2.5]`}, 2, "", "argument 2 (b): want an integer (int), got 2.5"},
		{"missing arguments", []string{"call", "--addr", addr, hello.HelloServiceName, "SayHello"}, 2, "", "SayHello takes 2 arguments"},
		{"one argument", []string{"call", "--addr", addr, hello.HelloServiceName, "Greet", `[]`}, 2, "", "Greet takes 1 argument, (userID string); got 0"},
		{"services", []string{"services", "--addr", addr}, 0, "SayHello(a string, b string) (string, error)", ""},
		{"services in the cluster", []string{"services", "--seed", seed, "--preset", "fast"}, 0, "SayWorld(a string, b string)  // oneway", ""},
		{"members", []string{"members", "--seed", seed, "--preset", "fast"}, 0, "p1", ""},
		{"ring", []string{"ring", "--seed", seed, "--preset", "fast", hello.HelloServiceName}, 0, "100.0%", ""},
		{"ring agreement", []string{"ring", "--seed", seed, "--preset", "fast", hello.HelloServiceName}, 0, "agreement: all 2 members route as this one", ""},
		{"unknown preset", []string{"members", "--seed", seed, "--preset", "quick"}, 2, "", `unknown preset "quick": use lan, wan, local, fast`},
		{"keys without an operation", []string{"keys", "--seed", seed}, 2, "", "want install, use or remove"},
		{"unknown service", []string{"call", "--addr", addr, "no.Such", "X"}, 1, "", `unknown service "no.Such"`},
		{"unknown method", []string{"call", "--addr", addr, hello.HelloServiceName, "Nope"}, 1, "", `no method "Nope"; it has: Greet, SayHello, SayHelloInteger`},
		{"bad JSON", []string{"call", "--addr", addr, hello.HelloServiceName, "SayHello", `["a",`}, 2, "", "JSON-ARGS must be a JSON array"},
		{"wrong argument types", []string{"call", "--addr", addr, hello.HelloServiceName, "SayHello", `[1,2]`}, 2, "", "argument 1 (a): want a string (string), got an integer"},
		{"the gossip port is no server", []string{"services", "--addr", seed}, 1, "", "is not a ringrpc server"},
		{"unreachable seed", []string{"members", "--seed", "127.0.0.1:1", "--preset", "fast", "--timeout", "2s"}, 1, "", "no seed answered"},
		{"an RPC port is no seed", []string{"members", "--seed", addr, "--preset", "fast", "--timeout", "2s"}, 1, "", "is a ringrpc server's RPC port, not a gossip port: give a member's gossip address to --seed"},
		{"unreachable server", []string{"services", "--addr", "127.0.0.1:1"}, 1, "", "unavailable"},
		{"no target", []string{"services"}, 2, "", "--addr HOST:PORT"},
		{"members needs a seed", []string{"members"}, 2, "", "needs --seed"},
		{"unknown command", []string{"frob"}, 2, "", `unknown command "frob"`},
		{"help", []string{"call", "--help"}, 0, "", "usage: ringrpc call"},
		{"help of members", []string{"members", "-h"}, 0, "", "-seed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := runCLI(tc.args...)
			if code != tc.code || !strings.Contains(out, tc.out) || !strings.Contains(errs, tc.err) {
				t.Fatalf("exit %d (want %d)\nstdout: %s\nstderr: %s\nwant stdout %q, stderr %q", code, tc.code, out, errs, tc.out, tc.err)
			}
		})
	}
}

func TestCLIJSON(t *testing.T) {
	addr, seed := provider(t)
	code, out, errs := runCLI("services", "--addr", addr, "--json")
	var descs []rpc.ServiceDesc
	if code != 0 || json.Unmarshal([]byte(out), &descs) != nil || len(descs) != 3 {
		t.Fatalf("services --json: %d %s %s", code, out, errs)
	}
	// The digests are hex strings in both, which a reader of JSON numbers as
	// doubles does not round, and the keys are lowercase in both.
	code, out, errs = runCLI("members", "--seed", seed, "--preset", "fast", "--json")
	var members []struct{ Name, State, Gossip, RPC, Digest string }
	if code != 0 || json.Unmarshal([]byte(out), &members) != nil || len(members) != 2 {
		t.Fatalf("members --json: %d %s %s", code, out, errs)
	}
	code, out, errs = runCLI("ring", "--seed", seed, "--preset", "fast", "--json", hello.HelloServiceName)
	var ring struct {
		Digest string
		Owners []struct{ Node, RPC string }
	}
	if code != 0 || json.Unmarshal([]byte(out), &ring) != nil || len(ring.Owners) != 1 || ring.Owners[0].RPC == "" {
		t.Fatalf("ring --json: %d %s %s", code, out, errs)
	}
	for _, m := range members {
		if m.State != "alive" || m.Gossip == "" || !strings.Contains(out, `"node": "`) {
			t.Errorf("members --json: %+v", m)
		}
		if m.Digest != "" && m.Digest != ring.Digest {
			t.Errorf("members --json gives %s the digest %q, ring --json %q", m.Name, m.Digest, ring.Digest)
		}
	}
}

// Through the cluster, the CLI routes a call as the generated client does: by the
// method's route-key directive.
func TestCLIRoutesAsTheGeneratedClient(t *testing.T) {
	_, seed := providerWith(t, "p1", nil, registry.Local)
	providerWith(t, "p2", []string{seed}, registry.Local)
	providerWith(t, "p3", []string{seed}, registry.Local)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	client := typedClient(t, ctx, seed, func(s registry.Snapshot) bool {
		return len(s.Services[hello.HelloServiceName]) == 3 && len(s.Services[shop.ShopServiceName]) == 3
	})
	typed := hello.NewHelloClient(client)
	for _, user := range []string{"ann", "bob", "cy", "dee", "eve", "fay"} {
		want, err := typed.Greet(ctx, user)
		if err != nil {
			t.Fatal(err)
		}
		code, out, errs := runCLI("call", "--seed", seed, "--preset", "local", hello.HelloServiceName, "Greet", `["`+user+`"]`)
		if code != 0 || strings.TrimSpace(out) != `"`+want+`"` {
			t.Fatalf("user %s: the CLI got %s (exit %d, %s), the typed client %q", user, out, code, errs, want)
		}
		// A route key in a field whose JSON name is not its Go name.
		want, err = shop.NewShopClient(client).Checkout(ctx, &shop.Cart{Owner: user})
		if err != nil {
			t.Fatal(err)
		}
		code, out, errs = runCLI("call", "--seed", seed, "--preset", "local", shop.ShopServiceName, "Checkout", `[{"owner_id":"`+user+`"}]`)
		if code != 0 || strings.TrimSpace(out) != `"`+want+`"` {
			t.Fatalf("cart of %s: the CLI got %s (exit %d, %s), the typed client %q", user, out, code, errs, want)
		}
	}
}

// typedClient joins the Local cluster of seed as a consumer, waits until ready holds,
// and returns a client routed by it, as a typed client's would be.
func typedClient(t *testing.T, ctx context.Context, seed string, ready func(registry.Snapshot) bool) *rpc.Client {
	t.Helper()
	reg, err := registry.Join(ctx, registry.Options{NodeName: "typed", Preset: registry.Local, Seeds: []string{seed}, Logger: quietLog})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	if err := reg.WaitFor(ctx, ready); err != nil {
		t.Fatal(err)
	}
	client, err := rpc.NewClient(rpc.ClientOptions{Resolver: reg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	return client
}

// Through the cluster, with the LAN preset, a command answers in well under a second.
func TestCLIThroughTheClusterIsQuick(t *testing.T) {
	_, seed := provider(t)
	start := time.Now()
	code, out, errs := runCLI("members", "--seed", seed)
	if code != 0 || !strings.Contains(out, "p1") || !strings.Contains(out, "ringrpc-cli-") {
		t.Fatalf("members: exit %d\n%s\n%s", code, out, errs)
	}
	if took := time.Since(start); took > 500*time.Millisecond {
		t.Fatalf("members --seed took %v", took)
	}
}

// A peer that is not a ringrpc server is named as such, and so is a seed that is an
// HTTP server.
func TestCLINotARingrpcServer(t *testing.T) {
	web := httptest.NewServer(http.NotFoundHandler())
	defer web.Close()
	code, _, errs := runCLI("services", "--addr", strings.TrimPrefix(web.URL, "http://"))
	if code != 1 || !strings.Contains(errs, "is not a ringrpc server: it answered with HTTP") {
		t.Fatalf("exit %d: %s", code, errs)
	}
	code, _, errs = runCLI("members", "--seed", strings.TrimPrefix(web.URL, "http://"), "--preset", "fast", "--timeout", "2s")
	if code != 1 || !strings.Contains(errs, "is no gossip port: it answered with HTTP") {
		t.Fatalf("exit %d: %s", code, errs)
	}
}

// A TLS server: without --tls the CLI says that it speaks TLS; with --tls and --ca
// the call goes through.
func TestCLITLS(t *testing.T) {
	caFile, serverConf := selfSigned(t)
	addr := serveTLS(t, serverConf)
	code, _, errs := runCLI("services", "--addr", addr)
	if code != 1 || !strings.Contains(errs, addr+" speaks TLS: add --tls") {
		t.Fatalf("without --tls: exit %d: %s", code, errs)
	}
	code, out, errs := runCLI("call", "--addr", addr, "--tls", "--ca", caFile, hello.HelloServiceName, "SayHello", `["a","b"]`)
	if code != 0 || !strings.Contains(out, `"hello a b"`) {
		t.Fatalf("with --tls: exit %d: %s %s", code, out, errs)
	}

	// A server that asks for client certificates refuses a CLI that has none.
	pool := x509.NewCertPool()
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool.AppendCertsFromPEM(pem)
	mutual := serverConf.Clone()
	mutual.ClientAuth, mutual.ClientCAs = tls.RequireAndVerifyClientCert, pool
	code, _, errs = runCLI("call", "--addr", serveTLS(t, mutual), "--tls", "--ca", caFile, hello.HelloServiceName, "SayHello", `["a","b"]`)
	if code != 1 || !strings.Contains(errs, "refused this side's TLS") || !strings.Contains(errs, "needs --cert and --key") || strings.Contains(errs, "not a ringrpc server") {
		t.Fatalf("mutual TLS without --cert: exit %d: %s", code, errs)
	}
}

// serveTLS serves the hello service over TLS with conf until the test ends, and
// returns its address.
func serveTLS(t *testing.T, conf *tls.Config) string {
	t.Helper()
	srv := rpc.NewServer(rpc.ServerOptions{Logger: quietLog, Transport: transport.ServerOptions{ConnOptions: transport.ConnOptions{TLS: conf, Logger: quietLog}}})
	if err := hello.RegisterHelloServer(srv, &hello.Service{Name: "tls", Log: quietLog}); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// selfSigned writes a self-signed certificate for 127.0.0.1 and returns its file
// and a server configuration that presents it.
func selfSigned(t *testing.T) (string, *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ringrpc test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return file, &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
}

// The gossip key rotates through the CLI on a live cluster.
func TestCLIKeyRotation(t *testing.T) {
	old, next := "000102030405060708090a0b0c0d0e0f", "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff"
	oldKey, _ := hex.DecodeString(old)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	reg, err := registry.Join(context.Background(), registry.Options{NodeName: "k", Preset: registry.Fast, SecretKey: oldKey, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	seed := reg.GossipAddr()
	steps := [][]string{
		{"keys", "install", next, "--gossip-key", old},
		{"keys", "use", next, "--gossip-key", old},
		{"keys", "remove", old, "--gossip-key", next},
	}
	for _, args := range steps {
		code, out, errs := runCLI(append(args, "--seed", seed, "--preset", "fast")...)
		if code != 0 || !strings.Contains(out, "done on every member") {
			t.Fatalf("%v: exit %d\n%s%s", args, code, out, errs)
		}
	}
	if keys := reg.Keys(); len(keys) != 1 || hex.EncodeToString(keys[0]) != next {
		t.Fatalf("the member keeps %x", keys)
	}
	for _, key := range [][]string{{"--gossip-key", old}, nil} {
		code, _, errs := runCLI(append([]string{"members", "--seed", seed, "--preset", "fast", "--timeout", "2s"}, key...)...)
		if code != 1 || !strings.Contains(errs, "encrypted with a key this side was not given: give one of the cluster's keys with --gossip-key") {
			t.Fatalf("members with %v after the rotation: exit %d, want 1 saying the key is wrong: %s", key, code, errs)
		}
	}
}

// services describes the struct types of the methods, members by their JSON names,
// enough to write a call's JSON without the Go source.
func TestCLIServicesDescribesTypes(t *testing.T) {
	addr, _ := provider(t)
	code, out, errs := runCLI("services", "--addr", addr)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, want := range []string{
		"Add(item Item) (int, error)  // routed by item.SKU",
		"type Cart struct {  // a JSON object with these members",
		`"owner_id"  string  // Go field Owner`,
		`"items"     []Item` + "\n",
		`"qty"    int` + "\n",
		`"attrs"  map[string]string  // omitempty`,
		`"note"   *Note              // omitempty`,
		`"Text"  string` + "\n",
		`"at"    time.Time` + "\n",
		"type time.Time  // JSON of its own (MarshalJSON or MarshalText)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in:\n%s", want, out)
		}
	}
	code, out, _ = runCLI("services", "--addr", addr, "--json")
	var descs []rpc.ServiceDesc
	if code != 0 || json.Unmarshal([]byte(out), &descs) != nil || !strings.Contains(out, `"Name": "owner_id"`) {
		t.Fatalf("services --json: %d %s", code, out)
	}
}

// Struct arguments are checked member by member before anything is sent, with
// messages as precise as for basic types.
func TestCLIChecksStructArguments(t *testing.T) {
	addr, _ := provider(t)
	tests := []struct {
		name, method, args string
		code               int
		want               string // in stdout for 0, else in stderr
	}{
		{"a valid item", "Add", `[{"sku":"a","qty":3,"note":{"Text":"x","at":"2025-01-02T03:04:05Z"}}]`, 0, "3"},
		{"members match in any case", "Add", `[{"SKU":"a","QTY":4}]`, 0, "4"},
		{"null members", "Add", `[{"sku":null,"qty":5,"note":null}]`, 0, "5"},
		{"a field of the wrong type", "Add", `[{"sku":"a","qty":"2"}]`, 2, "argument 1 (item): field qty: want an integer (int), got a string"},
		{"a fraction for an integer", "Add", `[{"sku":"a","qty":2.5}]`, 2, "argument 1 (item): field qty: want an integer (int), got 2.5"},
		{"a nested struct", "Add", `[{"sku":"a","note":{"Text":1}}]`, 2, "argument 1 (item): field note: field Text: want a string (string), got an integer"},
		{"a map value", "Add", `[{"sku":"a","attrs":{"x":1}}]`, 2, `argument 1 (item): field attrs: key "x": want a string (string), got an integer`},
		{"a misspelled member", "Add", `[{"sku":"a","qyt":2}]`, 2, "argument 1 (item): field qyt: Item has no such member; its members are sku, qty, price, tags, attrs, note"},
		{"not an object", "Add", `["a"]`, 2, "argument 1 (item): want an object (Item), got a string"},
		{"a slice of structs", "Checkout", `[{"owner_id":"ann","items":[{"sku":"a"},{"sku":2}]}]`, 2, "argument 1 (cart): field items: element 1: field sku: want a string (string), got an integer"},
		{"a pointer to a struct", "Checkout", `[{"owner_id":"ann","items":[{"sku":"a"}]}]`, 0, `"ann: 1 items, at p1"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := runCLI("call", "--addr", addr, shop.ShopServiceName, tc.method, tc.args)
			got := out
			if tc.code != 0 {
				got = errs
			}
			if code != tc.code || !strings.Contains(got, tc.want) {
				t.Fatalf("exit %d (want %d)\nstdout: %s\nstderr: %s\nwant %q", code, tc.code, out, errs, tc.want)
			}
		})
	}
}

// A call that outlives --timeout fails with an error that names the service, the
// method and the server.
func TestCLIDeadlineNamesTheCall(t *testing.T) {
	desc := &rpc.ServiceDesc{Name: "test.Slow", Methods: []rpc.MethodDesc{{Name: "Wait"}}}
	srv := rpc.NewServer(rpc.ServerOptions{Logger: quietLog, Transport: transport.ServerOptions{ConnOptions: transport.ConnOptions{Logger: quietLog}}})
	defer srv.Close()
	release := make(chan struct{})
	defer close(release) // before Close, which waits for the handler
	err := srv.Register(desc, []rpc.Handler{func(_ context.Context, args *rpc.Decoder, _ *rpc.Encoder) error {
		<-release // a handler that ignores its deadline
		return args.Finish()
	}})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	addr := ln.Addr().String()
	code, _, errs := runCLI("call", "--addr", addr, "--timeout", "300ms", "test.Slow", "Wait")
	if code != 1 || !strings.Contains(errs, "deadline_exceeded") || !strings.Contains(errs, "test.Slow.Wait on "+addr) || strings.Count(errs, "test.Slow.Wait") != 1 || !strings.Contains(errs, "--timeout is 300ms") {
		t.Fatalf("exit %d: %s", code, errs)
	}
}

// What a peer sent back to a probe names what it is, or what it did.
func TestClassifyProbeAnswer(t *testing.T) {
	for _, tc := range []struct {
		name string
		head []byte
		err  error
		want string
	}{
		{"HTTP", []byte("HTTP/1.1"), nil, "answered with HTTP"},
		{"TLS alert", []byte{0x15, 0x03, 0x01, 0, 2, 2, 70}, io.ErrUnexpectedEOF, "TLS alert"},
		{"closed", nil, io.EOF, "closed the connection"},
		{"silent", nil, os.ErrDeadlineExceeded, "answered neither the call nor a RocketMQ remoting request sent after it, given 1s more"},
		{"short", []byte("ab"), io.ErrUnexpectedEOF, "too short"},
		{"not a frame", []byte("SSH-2.0-"), nil, "not a remoting frame"},
		{"a frame", []byte{0, 0, 0, 40, 0, 0, 0, 20}, nil, ""},
	} {
		if got := classify(tc.head, tc.err); tc.want == "" && got != "" || !strings.Contains(got, tc.want) {
			t.Errorf("%s: %q, want it to say %q", tc.name, got, tc.want)
		}
	}
}

// A flag the command does not have is said once, before the usage.
func TestCLIUnknownFlagSaidOnce(t *testing.T) {
	code, _, errs := runCLI("members", "--bogus")
	if code != 2 || strings.Count(errs, "flag provided but not defined: -bogus") != 1 || !strings.Contains(errs, "usage: ringrpc members") {
		t.Fatalf("exit %d:\n%s", code, errs)
	}
}
