package rpc

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/ringrpc/ringrpc/transport"
)

// TestStreamMessageOfMaxFrameSizeLess512: docs/PROTOCOL.md §9.2: "A message may take all
// of MaxFrameSize but 512 bytes, which its frame's header may need; a larger one is
// refused by Send (ErrFrameTooLarge)." A caller's client or bidirectional stream
// whose message is refused must not end as if its input had been sent whole.
func TestStreamMessageOfMaxFrameSizeLess512(t *testing.T) {
	const max = 1 << 20
	var so ServerOptions
	so.Transport.MaxFrameSize = max
	_, _, addr := startFeed(t, so)
	var co ClientOptions
	co.Transport.MaxFrameSize = max
	fc, _ := newFeedClient(t, addr, co)
	chunk := strings.Repeat("a", max-512-2) // its JSON, quotes included: max-512 bytes
	n, err := fc.Upload(context.Background(), slices.Values([]string{chunk}))
	if err != nil || n != len(chunk) {
		t.Fatalf("a message of MaxFrameSize-512 bytes: %d, %v; want %d, nil", n, err, len(chunk))
	}
	t.Run("client stream", func(t *testing.T) {
		n, err := fc.Upload(context.Background(), slices.Values([]string{"a", chunk + "a", "b"}))
		if !errors.Is(err, transport.ErrFrameTooLarge) || CodeOf(err) != CodeBadArguments {
			t.Errorf("a message of MaxFrameSize-511 bytes: Upload returned %d, %v, want bad_arguments with ErrFrameTooLarge", n, err)
		}
	})
	t.Run("bidirectional", func(t *testing.T) {
		var got []string
		var errs []error
		for v, err := range fc.Chat(context.Background(), slices.Values([]string{"a", chunk + "a", "b"})) {
			if err != nil {
				errs = append(errs, err)
				continue
			}
			got = append(got, v)
		}
		if len(errs) != 1 || !errors.Is(errs[0], transport.ErrFrameTooLarge) || CodeOf(errs[0]) != CodeBadArguments {
			t.Errorf("a message of MaxFrameSize-511 bytes: Chat gave %q and errors %v, want ErrFrameTooLarge", got, errs)
		}
	})
}
