// Package registry finds providers without a registry server: every node runs a
// hashicorp/memberlist gossip member that advertises its RPC address and the services it
// exports, and picks the provider of each call on a consistent-hash ring with bounded
// loads (buraksezer/consistent), one ring per service.
//
// A Registry implements rpc.Resolver, rpc.ImmediateResolver and
// rpc.FailureReporter: give it to rpc.ClientOptions.Resolver. Rings are immutable
// snapshots rebuilt when membership changes and swapped atomically, so picking a
// provider takes no lock.
package registry
