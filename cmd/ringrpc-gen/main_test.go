package main

import (
	"bytes"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestHelpSucceeds(t *testing.T) {
	for _, arg := range []string{"-h", "--help"} {
		var out, errs bytes.Buffer
		if err := run([]string{arg}, &out, &errs); err != nil {
			t.Fatalf("%s: %v", arg, err)
		}
		if !strings.Contains(errs.String(), "usage: ringrpc-gen") {
			t.Fatalf("%s printed %q", arg, errs.String())
		}
	}
}
