package hello

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/ringrpc/ringrpc/rpc"
)

// Service implements Hello and World for one provider, named so that callers can see
// who served them: every response carries the provider's name in the reply metadata
// "served-by".
type Service struct {
	Name string
	Log  *slog.Logger
}

func (s *Service) served(ctx context.Context) { rpc.SetReplyMetadata(ctx, "served-by", s.Name) }

// SayHello returns "hello a b".
func (s *Service) SayHello(ctx context.Context, a, b string) (string, error) {
	s.served(ctx)
	return "hello " + a + " " + b, nil
}

// SayHelloInteger returns 1000 + a + b.
func (s *Service) SayHelloInteger(ctx context.Context, a, b int) (int, error) {
	s.served(ctx)
	return 1000 + a + b, nil
}

// Greet greets a user by id.
func (s *Service) Greet(ctx context.Context, userID string) (string, error) {
	s.served(ctx)
	return fmt.Sprintf("hi %s, from %s", userID, s.Name), nil
}

// SayWorld logs "world a b".
func (s *Service) SayWorld(ctx context.Context, a, b string) {
	s.Log.Info("world " + a + " " + b)
}
