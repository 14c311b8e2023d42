// Package ringrpc is an RPC framework for Go that you use through plain Go interfaces.
// This package holds no code: it maps the packages and commands of the module.
//
// You write an interface and a go:generate line; ringrpc-gen writes a client that
// implements the interface, an async client that returns futures, and a server
// dispatcher. Calls travel as Apache RocketMQ remoting commands over long-lived TCP
// connections. Providers and consumers find each other by gossip, and each call goes to
// a provider picked on a consistent-hash ring.
//
// # Getting started
//
// In your module, against a checkout of the repository (ringrpc is on no module proxy
// yet):
//
//	go mod edit -require github.com/ringrpc/ringrpc@v0.0.0 -replace github.com/ringrpc/ringrpc=/path/to/ringrpc
//	go mod edit -tool github.com/ringrpc/ringrpc/cmd/ringrpc-gen
//	go mod tidy
//
// then, beside your interface:
//
//	//go:generate go tool ringrpc-gen -type Greeter
//
// and go generate. README.md in the repository walks through a provider and a consumer.
//
// # Packages
//
//   - [github.com/ringrpc/ringrpc/rpc]: the runtime. Clients (rpc.NewClient), servers
//     (rpc.NewServer), resolvers (rpc.StaticAddress, rpc.StaticList), errors and codes,
//     metadata, interceptors and futures. Generated code imports this package only.
//   - [github.com/ringrpc/ringrpc/registry]: gossip membership (hashicorp/memberlist)
//     and routing on consistent-hash rings. registry.Join makes a node; the Registry
//     is the resolver of a client and advertises a server's services.
//   - [github.com/ringrpc/ringrpc/transport]: the RocketMQ remoting protocol over TCP:
//     frames, both header codecs, multiplexed connections, TLS. rpc is built on it; use
//     it directly to talk to RocketMQ peers.
//   - [github.com/ringrpc/ringrpc/codegen]: the generator as a library, behind
//     ringrpc-gen.
//
// # Commands
//
//   - [github.com/ringrpc/ringrpc/cmd/ringrpc-gen]: writes clients and dispatchers for
//     interfaces (docs/GENERATOR.md in the repository).
//   - [github.com/ringrpc/ringrpc/cmd/ringrpc]: calls and inspects services by address
//     or through the cluster: call, services, members, ring.
//
// The wire contract is docs/PROTOCOL.md and operations (ports, TLS, shutdown, failover)
// are in docs/OPERATIONS.md, both in the repository.
package ringrpc
