package main

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestDemo builds the provider, the consumer and the demo, runs the demo as make demo
// does, and checks what it printed.
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("builds binaries and runs a cluster of processes")
	}
	bin := t.TempDir()
	build := exec.Command("go", "build", "-o", bin+"/", "../provider", "../consumer", ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(filepath.Join(bin, "demo"), "-bin", bin, "-timeout", "90s").CombinedOutput()
	text := string(out)
	if err != nil {
		t.Fatalf("demo failed: %v\n%s", err, text)
	}
	for _, want := range []string{
		"demo OK",
		`sync   SayHello("a", "b")           = "hello a b"`,
		"SayHelloInteger(1, 2)        = 1003",
		`async  SayHello("x", "async")`,
		`msg="world a b"`,
		"== killing p2 with SIGKILL",
		"ring of Hello: p1", "LEFT name=p1",
		"a provider's metrics: curl -s http://127.0.0.1:", "ringrpc_server_connections ",
		`ringrpc_registry_members{ringrpc_member_state="alive"} `,
		"DEBUG page=http://127.0.0.1:",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the demo did not print %q\n%s", want, text)
		}
	}
	if strings.Contains(text, "FAILED") {
		t.Errorf("a call failed:\n%s", text)
	}
}
