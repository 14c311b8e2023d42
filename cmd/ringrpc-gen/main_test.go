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

// Arguments besides the flags are refused with the -type list they meant: with
// -type A B the flag package stops at B, which would be left out without a word.
func TestArgumentsBesidesFlagsRefused(t *testing.T) {
	for _, tc := range []struct {
		args []string
		says string
		list string // the -type list the error ends with
	}{
		{[]string{"-type", "A", "B"}, `unexpected argument "B": ringrpc-gen takes flags only;`, "A,B"},
		{[]string{"-type", "A", "B,C", "D"}, `unexpected argument "B,C"`, "A,B,C,D"},
		{[]string{"Hello"}, `unexpected argument "Hello"`, "Hello"},
		{[]string{"-type", "A", "B", "-dir", "x"}, "read none after it; put every flag first", "A,B"},
	} {
		var out, errs bytes.Buffer
		err := run(tc.args, &out, &errs)
		if err == nil || !strings.Contains(err.Error(), tc.says) || !strings.HasSuffix(err.Error(), " -type "+tc.list) {
			t.Errorf("ringrpc-gen %s: %v\nwant it to say %q and end with -type %s", strings.Join(tc.args, " "), err, tc.says, tc.list)
		}
		if out.Len() > 0 {
			t.Errorf("ringrpc-gen %s wrote %q", strings.Join(tc.args, " "), out.String())
		}
	}
}
