package registry

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ringrpc/ringrpc/rpc"
)

// Readiness: Join returns once the catalogs of the members it reached are in, and a
// call that finds no provider of its service waits for one to appear.

// catalogSyncCap bounds Join's wait for catalogs when its ctx allows longer: a member
// that never sends its catalog must not hold Join up.
const catalogSyncCap = 5 * time.Second

// syncCatalogs waits until no member's catalog is pending, ctx ends or catalogSyncCap
// passes, then rebuilds the rings, so that calls made as soon as Join returns route by
// what the join learnt. Catalogs still missing keep being fetched afterwards.
func (r *Registry) syncCatalogs(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, catalogSyncCap)
	defer cancel()
	if err := r.waitCatalogs(ctx); err != nil {
		known, pending := r.catalogCounts()
		r.log.Warn("registry: joined before every member sent its catalog; calls wait for their providers",
			"members", known, "pending", pending, "err", err)
	}
	r.rebuild()
}

func (r *Registry) waitCatalogs(ctx context.Context) error {
	for {
		changed := *r.rebuilt.Load()
		if _, pending := r.catalogCounts(); pending == 0 {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// catalogCounts returns how many members this node knows, itself included, and how
// many of them advertise services whose catalog has not arrived yet.
func (r *Registry) catalogCounts() (known, pending int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for name, ns := range r.nodes {
		if ns.gossip == "" {
			continue // a catalog that arrived before its node's join
		}
		known++
		if name != r.opts.NodeName && catalogPending(ns) {
			pending++
		}
	}
	return known, pending
}

func catalogPending(ns *nodeState) bool {
	return ns.meta.services > 0 && (ns.cat == nil || ns.cat.version < ns.meta.version)
}

// waitProvider waits for a provider of service to appear on the rings
// (wait-for-ready): until ctx ends, or for Options.ReadyWait when ctx has no
// deadline. A negative ReadyWait fails at once.
func (r *Registry) waitProvider(ctx context.Context, service string) (*serviceRing, error) {
	if r.opts.ReadyWait < 0 {
		return nil, r.noProvider(service, "not waiting: registry.Options.ReadyWait is negative")
	}
	r.waiting.Add(1)
	defer r.waiting.Add(-1)
	start := time.Now()
	var expired <-chan time.Time
	if _, ok := ctx.Deadline(); !ok {
		t := time.NewTimer(r.opts.ReadyWait)
		defer t.Stop()
		expired = t.C
	}
	for {
		changed := *r.rebuilt.Load()
		if sr := r.snap.Load().services[service]; sr != nil {
			return sr, nil
		}
		select {
		case <-changed:
		case <-expired:
			return nil, r.noProvider(service, fmt.Sprintf("waited %v, registry.Options.ReadyWait", r.opts.ReadyWait))
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.Canceled) {
				return nil, rpc.Errorf(rpc.CodeCanceled, "call of %s canceled while waiting for a provider: %v", service, ctx.Err())
			}
			return nil, r.noProvider(service, fmt.Sprintf("waited %v, until the call's deadline", time.Since(start).Round(time.Millisecond)))
		case <-r.stop:
			return nil, rpc.Errorf(rpc.CodeUnavailable, "no provider of service %s: registry %s is shut down", service, r.opts.NodeName)
		}
	}
}

// noProvider is the error of a call no provider could take: it says what this node
// knows of the cluster, so that "none started" and "not heard of yet" differ.
func (r *Registry) noProvider(service, waited string) error {
	known, pending := r.catalogCounts()
	return rpc.Errorf(rpc.CodeUnavailable,
		"no provider of service %s is in the cluster that %s sees (members known: %d, catalogs pending: %d; %s): start one, or check that it joined the same cluster and that the service name matches",
		service, r.opts.NodeName, known, pending, waited)
}
