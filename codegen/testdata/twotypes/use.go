package two

import "github.com/ringrpc/ringrpc/rpc"

// Clients uses both generated clients.
func Clients(c *rpc.Client) (A, B) { return NewAClient(c), NewBClient(c) }
