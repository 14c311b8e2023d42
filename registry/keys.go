package registry

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/hashicorp/memberlist"
)

// Gossip key rotation on a live cluster: the node asked applies the change to its
// own keyring, sends it to every member it knows over memberlist's encrypted
// reliable channel, and waits for each to confirm. The usual sequence is
// InstallKey(new) everywhere, then UseKey(new), then RemoveKey(old).

const (
	msgKeyOp  = 'K'
	msgKeyAck = 'k'

	keyInstall byte = 'i'
	keyUse     byte = 'u'
	keyRemove  byte = 'r'
	keyHas     byte = 'h' // only checks that the key is installed
)

// keyOp asks a member to change its keyring and to confirm to the sender.
type keyOp struct {
	id   uint32
	op   byte
	from catalogRequest // where to send the confirmation
	key  []byte
}

// keyAck confirms a keyOp; err is empty on success.
type keyAck struct {
	id   uint32
	node string
	err  string
}

// InstallKey adds key to the keyring of every member, this one included: members
// then accept gossip encrypted with it, and still encrypt with their primary key.
// It returns once every member it knows confirmed, or fails naming those that did
// not when ctx ends.
func (r *Registry) InstallKey(ctx context.Context, key []byte) error {
	return r.rotate(ctx, keyInstall, key)
}

// UseKey makes key, installed everywhere first, the primary key of every member:
// the key they encrypt with. Confirmation as for InstallKey.
func (r *Registry) UseKey(ctx context.Context, key []byte) error {
	return r.rotate(ctx, keyUse, key)
}

// RemoveKey removes key from every member's keyring; the primary key cannot be
// removed. Confirmation as for InstallKey.
func (r *Registry) RemoveKey(ctx context.Context, key []byte) error {
	return r.rotate(ctx, keyRemove, key)
}

// Keys returns this node's gossip keys, the primary first; none without encryption.
func (r *Registry) Keys() [][]byte {
	kr := r.opts.ml.Keyring
	if kr == nil {
		return nil
	}
	primary := kr.GetPrimaryKey()
	keys := [][]byte{primary}
	for _, k := range kr.GetKeys() {
		if !slices.Equal(k, primary) {
			keys = append(keys, k)
		}
	}
	return keys
}

func (r *Registry) rotate(ctx context.Context, op byte, key []byte) error {
	if r.opts.ml.Keyring == nil {
		return errors.New("registry: gossip is not encrypted, so there is no key to rotate: start every node with registry.Options.SecretKey (a running cluster cannot turn encryption on)")
	}
	if err := memberlist.ValidateKey(key); err != nil {
		return fmt.Errorf("registry: %w", err)
	}
	if op != keyUse {
		if err := r.applyKey(op, key); err != nil {
			return err
		}
		return r.fanOut(ctx, op, key)
	}
	// A member that switched to a key another lacks would be cut off from it:
	// every member confirms it has the key before any switches, and this node,
	// whose messages must reach the others meanwhile, switches last.
	if err := r.applyKey(keyInstall, key); err != nil {
		return err
	}
	if err := r.fanOut(ctx, keyHas, key); err != nil {
		return fmt.Errorf("%w; no member switched", err)
	}
	if err := r.fanOut(ctx, keyUse, key); err != nil {
		return err
	}
	return r.applyKey(keyUse, key)
}

// fanOut sends a key operation to every other member and waits for each to
// confirm.
func (r *Registry) fanOut(ctx context.Context, op byte, key []byte) error {
	targets := r.otherMembers()
	id, acks := r.awaitAcks()
	defer r.stopAwait(id)
	self := r.self
	q := keyOp{id: id, op: op, key: key, from: catalogRequest{node: r.opts.NodeName, ip: slices.Clone(self.Addr), port: self.Port}}
	msg := encodeKeyOp(q)
	var wg sync.WaitGroup
	sendErrs := make(map[string]string)
	var mu sync.Mutex
	for _, n := range targets {
		wg.Go(func() {
			if err := r.ml.SendReliable(n, msg); err != nil {
				mu.Lock()
				sendErrs[n.Name] = err.Error()
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return r.collectAcks(ctx, op, targets, acks, sendErrs)
}

// applyKey changes this node's keyring and keeps it in the state file.
func (r *Registry) applyKey(op byte, key []byte) error {
	kr := r.opts.ml.Keyring
	var err error
	switch op {
	case keyInstall:
		err = kr.AddKey(key)
	case keyUse:
		err = kr.UseKey(key)
	case keyRemove:
		err = kr.RemoveKey(key)
	case keyHas:
		if !slices.ContainsFunc(kr.GetKeys(), func(k []byte) bool { return slices.Equal(k, key) }) {
			err = errors.New("the key is not installed")
		}
	default:
		err = fmt.Errorf("unknown key operation %q", op)
	}
	switch {
	case err != nil && (op == keyUse || op == keyHas):
		return fmt.Errorf("registry: %s key on %s: %w; install it on every member first (InstallKey)", opName(op), r.opts.NodeName, err)
	case err != nil && op == keyRemove:
		return fmt.Errorf("registry: %s key on %s: %w; make another key the primary first (UseKey)", opName(op), r.opts.NodeName, err)
	case err != nil:
		return fmt.Errorf("registry: %s key on %s: %w", opName(op), r.opts.NodeName, err)
	}
	r.saveState()
	return nil
}

func opName(op byte) string {
	switch op {
	case keyInstall:
		return "installing the"
	case keyUse:
		return "using the"
	case keyRemove:
		return "removing the"
	case keyHas:
		return "checking for the"
	}
	return "changing a"
}

func (r *Registry) otherMembers() []*memberlist.Node {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*memberlist.Node
	for name, ns := range r.nodes {
		if name != r.opts.NodeName && ns.ip != nil {
			out = append(out, &memberlist.Node{Name: name, Addr: slices.Clone(ns.ip), Port: ns.port})
		}
	}
	return out
}

func (r *Registry) awaitAcks() (uint32, chan keyAck) {
	ch := make(chan keyAck, 64)
	r.keyMu.Lock()
	defer r.keyMu.Unlock()
	r.keySeq++
	r.keyWait[r.keySeq] = ch
	return r.keySeq, ch
}

func (r *Registry) stopAwait(id uint32) {
	r.keyMu.Lock()
	delete(r.keyWait, id)
	r.keyMu.Unlock()
}

// collectAcks waits for every target's confirmation and reports those missing.
func (r *Registry) collectAcks(ctx context.Context, op byte, targets []*memberlist.Node, acks chan keyAck, failed map[string]string) error {
	waiting := map[string]bool{}
	for _, n := range targets {
		if _, ok := failed[n.Name]; !ok {
			waiting[n.Name] = true
		}
	}
	for len(waiting) > 0 {
		select {
		case a := <-acks:
			if !waiting[a.node] {
				continue
			}
			delete(waiting, a.node)
			if a.err != "" {
				failed[a.node] = a.err
			}
		case <-ctx.Done():
			for n := range waiting {
				failed[n] = "no confirmation: " + ctx.Err().Error()
			}
			waiting = nil
		case <-r.stop:
			return errors.New("registry: closed while rotating keys")
		}
	}
	if len(failed) == 0 {
		return nil
	}
	var lines []string
	for n, e := range failed {
		lines = append(lines, n+": "+e)
	}
	sort.Strings(lines)
	return fmt.Errorf("registry: %s key: %d of %d other members did not confirm (%s); run the command again once they are reachable: it is idempotent",
		opName(op), len(failed), len(targets), strings.Join(lines, "; "))
}

// keyLoop applies key operations from other members and confirms them.
func (r *Registry) keyLoop() {
	defer r.routines.Done()
	for {
		select {
		case <-r.stop:
			return
		case q := <-r.keyOps:
			a := keyAck{id: q.id, node: r.opts.NodeName}
			if r.opts.ml.Keyring == nil {
				a.err = "gossip is not encrypted here"
			} else if err := r.applyKey(q.op, q.key); err != nil {
				a.err = err.Error()
			}
			to := &memberlist.Node{Name: q.from.node, Addr: q.from.ip, Port: q.from.port}
			if err := r.ml.SendReliable(to, encodeKeyAck(a)); err != nil {
				r.log.Warn("registry: confirming a key change", "to", q.from.node, "err", err)
			}
		}
	}
}

// deliverAck hands a confirmation to the rotation waiting for it.
func (r *Registry) deliverAck(a keyAck) {
	r.keyMu.Lock()
	ch := r.keyWait[a.id]
	r.keyMu.Unlock()
	if ch != nil {
		select {
		case ch <- a:
		default:
		}
	}
}

func encodeKeyOp(q keyOp) []byte {
	b := []byte{msgKeyOp, wireVersion}
	b = binary.BigEndian.AppendUint32(b, q.id)
	b = append(b, q.op)
	b = appendStr16(b, q.from.node)
	b = append(b, byte(len(q.from.ip)))
	b = append(b, q.from.ip...)
	b = binary.BigEndian.AppendUint16(b, q.from.port)
	return appendStr16(b, string(q.key))
}

func decodeKeyOp(b []byte) (keyOp, error) {
	r := reader{b: b}
	if k, v := r.u8(), r.u8(); r.err == nil && (k != msgKeyOp || v != wireVersion) {
		return keyOp{}, fmt.Errorf("registry: not a version %d key operation", wireVersion)
	}
	q := keyOp{id: r.u32(), op: r.u8()}
	q.from.node = r.str16()
	q.from.ip = slices.Clone(r.next(int(r.u8())))
	q.from.port = r.u16()
	q.key = []byte(r.str16())
	if r.err == nil && len(q.from.ip) != 4 && len(q.from.ip) != 16 {
		return keyOp{}, fmt.Errorf("registry: key operation with a %d-byte IP", len(q.from.ip))
	}
	if r.err != nil {
		return keyOp{}, fmt.Errorf("registry: key operation: %w", r.err)
	}
	return q, nil
}

func encodeKeyAck(a keyAck) []byte {
	b := []byte{msgKeyAck, wireVersion}
	b = binary.BigEndian.AppendUint32(b, a.id)
	b = appendStr16(b, a.node)
	return appendStr16(b, a.err)
}

func decodeKeyAck(b []byte) (keyAck, error) {
	r := reader{b: b}
	if k, v := r.u8(), r.u8(); r.err == nil && (k != msgKeyAck || v != wireVersion) {
		return keyAck{}, fmt.Errorf("registry: not a version %d key confirmation", wireVersion)
	}
	a := keyAck{id: r.u32(), node: r.str16(), err: r.str16()}
	if r.err != nil {
		return keyAck{}, fmt.Errorf("registry: key confirmation: %w", r.err)
	}
	return a, nil
}
