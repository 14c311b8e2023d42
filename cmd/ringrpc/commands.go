package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ringrpc/ringrpc/registry"
	"github.com/ringrpc/ringrpc/rpc"
)

func cmdCall(args []string, stdout, stderr io.Writer) error {
	c := newFlags("call", "SERVICE METHOD [JSON-ARGS]", withAddr, stderr)
	key := c.fs.String("route-key", "", "route key: the call goes to the key's owner on the ring (default: as the generated client routes)")
	if err := c.parse(args); err != nil {
		return err
	}
	rest := c.args
	if *key != "" && c.addr != "" {
		return usageError{msg: "--route-key picks a provider on the ring: give it with --seed, not --addr, which names the server"}
	}
	if len(rest) < 2 || len(rest) > 3 {
		return usageError{msg: "want SERVICE METHOD [JSON-ARGS], like: example.com/hello.Hello SayHello '[\"a\",\"b\"]'"}
	}
	body := []byte("[]")
	if len(rest) == 3 {
		body = bytes.TrimSpace([]byte(rest[2]))
	}
	jsonArgs, err := splitArgs(body)
	if err != nil {
		return err
	}
	s, err := c.connect(false)
	if err != nil {
		return err
	}
	defer s.close()
	desc, err := s.describe(rest[0])
	if err != nil {
		return err
	}
	i := slices.IndexFunc(desc.Methods, func(m rpc.MethodDesc) bool { return m.Name == rest[1] })
	if i < 0 {
		return fmt.Errorf("service %s has no method %q; it has: %s", desc.Name, rest[1], methodNames(desc))
	}
	m, ts := desc.Methods[i], typesOf(desc)
	if err := ts.checkArgs(m, jsonArgs); err != nil {
		return err
	}
	ctx := s.ctx
	if *key != "" {
		ctx = rpc.WithRouteKey(ctx, *key)
	} else if k, ok, err := ts.routeKey(m, jsonArgs); err != nil {
		return err
	} else if ok {
		ctx = rpc.WithRouteKey(ctx, k)
	} else if k, err := ts.defaultKey(m, jsonArgs); err != nil {
		return err
	} else {
		// The arguments travel as one JSON array, whose first value the client
		// does not pick out: the key is set as the generated client's would be.
		ctx = rpc.WithRouteKey(ctx, k)
	}
	out, err := s.client.InvokeJSON(ctx, desc.Name, m, body)
	if err != nil {
		return callError(err, desc.Name+"."+m.Name, s)
	}
	if m.Oneway {
		fmt.Fprintln(stderr, "sent: a oneway method has no answer")
		return nil
	}
	if len(out) == 0 {
		out = []byte("null")
	}
	fmt.Fprintln(stdout, shownResults(out))
	return nil
}

// callError names the call in err unless package rpc did, and the knob of a
// deadline: --timeout.
func callError(err error, call string, s *session) error {
	if !strings.Contains(err.Error(), call) {
		err = fmt.Errorf("%s via %s: %w", call, s.target(), err)
	}
	if rpc.CodeOf(err) == rpc.CodeDeadlineExceeded {
		err = fmt.Errorf("%w (the command's --timeout is %v)", err, s.c.timeout)
	}
	return err
}

// target names where the session's calls go, for messages.
func (s *session) target() string {
	if s.reg != nil {
		return "the cluster at " + s.c.seed
	}
	return s.c.addr
}

func methodNames(d *rpc.ServiceDesc) string {
	var names []string
	for _, m := range d.Methods {
		names = append(names, m.Name)
	}
	return strings.Join(names, ", ")
}

// signature renders a method as Go: Name(a string, b int) (string, error).
func signature(m rpc.MethodDesc) string {
	var ps []string
	for _, p := range m.Params {
		t := p.Type
		if p.Variadic {
			t = "..." + strings.TrimPrefix(t, "[]")
		}
		ps = append(ps, strings.TrimSpace(p.Name+" "+t))
	}
	res := ""
	var notes []string
	switch {
	case m.Oneway:
		notes = append(notes, "oneway")
	case len(m.Results) == 0:
		res = " error"
	default:
		res = " (" + strings.Join(append(slices.Clone(m.Results), "error"), ", ") + ")"
	}
	if m.RouteKey != "" {
		notes = append(notes, "routed by "+m.RouteKey)
	}
	if m.Idempotent {
		notes = append(notes, "idempotent")
	}
	if len(notes) > 0 {
		res += "  // " + strings.Join(notes, ", ")
	}
	return fmt.Sprintf("%s(%s)%s", m.Name, strings.Join(ps, ", "), res)
}

// printTypes writes the types a service's methods use, as the JSON of a call
// spells them: a struct's members by their JSON names.
func printTypes(w io.Writer, types []rpc.TypeDesc) error {
	if len(types) == 0 {
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "")
	for _, t := range types {
		switch {
		case t.Custom:
			fmt.Fprintf(tw, "  type %s  // JSON of its own (MarshalJSON or MarshalText)\n", shown(t.Name))
		case t.Type != "":
			fmt.Fprintf(tw, "  type %s %s\n", shown(t.Name), shown(t.Type))
		default:
			fmt.Fprintf(tw, "  type %s struct {  // a JSON object with these members\n", shown(t.Name))
			for _, f := range t.Fields {
				if notes := fieldNotes(f); notes != "" {
					fmt.Fprintf(tw, "    %q\t%s\t%s\n", f.Name, shown(f.Type), shown(notes))
				} else {
					fmt.Fprintf(tw, "    %q\t%s\n", f.Name, shown(f.Type))
				}
			}
			fmt.Fprintln(tw, "  }")
		}
	}
	fmt.Fprintln(tw, "")
	return tw.Flush()
}

func fieldNotes(f rpc.FieldDesc) string {
	var notes []string
	if f.Quoted {
		notes = append(notes, "inside a JSON string, like \"12\"")
	}
	if f.OmitEmpty {
		notes = append(notes, "omitempty")
	}
	if f.Go != "" && !strings.EqualFold(f.Go, f.Name) {
		notes = append(notes, "Go field "+f.Go) // which route-key directives name
	}
	if len(notes) == 0 {
		return ""
	}
	return "// " + strings.Join(notes, ", ")
}

func cmdServices(args []string, stdout, stderr io.Writer) error {
	c := newFlags("services", "", withAddr|withJSON, stderr)
	if err := c.parse(args); err != nil {
		return err
	}
	if len(c.args) > 0 {
		return usageError{msg: fmt.Sprintf("takes no arguments; got %q", c.args)}
	}
	s, err := c.connect(false)
	if err != nil {
		return err
	}
	defer s.close()
	var descs []rpc.ServiceDesc
	if s.reg == nil {
		descs, err = s.introspect("")
	} else {
		descs, err = s.clusterServices()
	}
	if err != nil {
		return err
	}
	if c.json {
		return writeJSON(stdout, descs)
	}
	for _, d := range descs {
		fmt.Fprintln(stdout, shown(d.Name))
		for _, m := range d.Methods {
			fmt.Fprintf(stdout, "  %s\n", shown(signature(m)))
		}
		if err := printTypes(stdout, d.Types); err != nil {
			return err
		}
	}
	return nil
}

// clusterServices introspects one provider of each service in the cluster.
func (s *session) clusterServices() ([]rpc.ServiceDesc, error) {
	seen := map[string]bool{}
	var out []rpc.ServiceDesc
	for _, m := range s.reg.Members() {
		for _, svc := range m.Services {
			if seen[svc] {
				continue
			}
			descs, err := s.introspect(svc)
			if err != nil {
				return nil, err
			}
			for _, d := range descs {
				if !seen[d.Name] {
					seen[d.Name] = true
					out = append(out, d)
				}
			}
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no member of the cluster provides a service: start a provider that joins it, or check --seed (ringrpc members --seed lists the members)")
	}
	slices.SortFunc(out, func(a, b rpc.ServiceDesc) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

func cmdMembers(args []string, stdout, stderr io.Writer) error {
	c := newFlags("members", "", withJSON, stderr)
	if err := c.parse(args); err != nil {
		return err
	}
	if len(c.args) > 0 {
		return usageError{msg: fmt.Sprintf("takes no arguments; got %q", c.args)}
	}
	s, err := c.connect(true)
	if err != nil {
		return err
	}
	defer s.close()
	members := s.reg.Members()
	if c.json {
		return writeJSON(stdout, memberRows(members))
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSTATE\tGOSSIP\tRPC\tSERVICES")
	for _, m := range members {
		rpcAddr := m.RPCAddr
		if rpcAddr == "" {
			rpcAddr = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", shown(m.Name), m.State, shown(m.GossipAddr), shown(rpcAddr), shownList(m.Services, ","))
	}
	return tw.Flush()
}

func cmdRing(args []string, stdout, stderr io.Writer) error {
	c := newFlags("ring", "SERVICE", withJSON, stderr)
	if err := c.parse(args); err != nil {
		return err
	}
	if len(c.args) != 1 {
		return usageError{msg: "want one SERVICE"}
	}
	s, err := c.connect(true)
	if err != nil {
		return err
	}
	defer s.close()
	snap := s.settled()
	owners, ok := snap.Services[c.args[0]]
	if !ok {
		return fmt.Errorf("no provider of %q in the cluster at %s (members: %d); ringrpc services --seed lists the services", c.args[0], c.seed, len(snap.Members))
	}
	rep := ringReport{Service: c.args[0], Checksum: fmt.Sprintf("%016x", snap.Checksums[c.args[0]]), Digest: fmt.Sprintf("%016x", snap.Digest)}
	for _, o := range owners {
		rep.Owners = append(rep.Owners, owner{Node: o.Node, RPCAddr: o.RPCAddr, Partitions: o.Partitions, Share: o.Share})
	}
	for _, m := range snap.Members {
		switch {
		case m.RingDigest == 0:
			rep.Unknown = append(rep.Unknown, m.Name)
		case m.RingDigest != snap.Digest:
			rep.Divergent = append(rep.Divergent, divergent{Name: m.Name, Digest: fmt.Sprintf("%016x", m.RingDigest)})
		}
	}
	if c.json {
		return writeJSON(stdout, rep)
	}
	return rep.print(stdout, len(snap.Members))
}

// memberRow is a member as members --json prints it: with lowercase keys as ring
// --json, and the ring digest in hex as there, which a JSON number would round.
type memberRow struct {
	Name       string   `json:"name"`
	State      string   `json:"state"`
	GossipAddr string   `json:"gossip"`
	RPCAddr    string   `json:"rpc,omitempty"`
	Services   []string `json:"services,omitempty"`
	Digest     string   `json:"digest,omitempty"` // over all of the member's rings
	Leaving    bool     `json:"leaving,omitempty"`
}

func memberRows(ms []registry.Member) []memberRow {
	rows := make([]memberRow, len(ms))
	for i, m := range ms {
		rows[i] = memberRow{Name: m.Name, State: m.State.String(), GossipAddr: m.GossipAddr, RPCAddr: m.RPCAddr, Services: m.Services, Leaving: m.Leaving}
		if m.RingDigest != 0 {
			rows[i].Digest = fmt.Sprintf("%016x", m.RingDigest)
		}
	}
	return rows
}

// owner is a provider's share of a ring as ring --json prints it.
type owner struct {
	Node       string  `json:"node"`
	RPCAddr    string  `json:"rpc"`
	Partitions int     `json:"partitions"`
	Share      float64 `json:"share"`
}

// ringReport is what ring prints: a service's ring and whether the members agree.
type ringReport struct {
	Service   string      `json:"service"`
	Checksum  string      `json:"checksum"` // of this service's ring, here
	Digest    string      `json:"digest"`   // over all of this node's rings
	Owners    []owner     `json:"owners"`
	Divergent []divergent `json:"divergent"`         // members whose rings differ
	Unknown   []string    `json:"unknown,omitempty"` // members that gossip no digest
}

type divergent struct {
	Name   string `json:"name"`
	Digest string `json:"digest"`
}

func (rep ringReport) print(w io.Writer, members int) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tRPC\tPARTITIONS\tSHARE")
	for _, o := range rep.Owners {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%.1f%%\n", shown(o.Node), shown(o.RPCAddr), o.Partitions, 100*o.Share)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nring checksum %s, digest of all rings %s\n", rep.Checksum, rep.Digest)
	if len(rep.Divergent) == 0 {
		fmt.Fprintf(w, "agreement: all %d members route as this one", members-len(rep.Unknown))
	} else {
		var names []string
		for _, d := range rep.Divergent {
			names = append(names, shown(d.Name)+" ("+d.Digest+")")
		}
		fmt.Fprintf(w, "DIVERGENT: %d of %d members route differently: %s", len(rep.Divergent), members, strings.Join(names, ", "))
	}
	if len(rep.Unknown) > 0 {
		fmt.Fprintf(w, "; no digest from %s (older versions)", shownList(rep.Unknown, ", "))
	}
	fmt.Fprintln(w)
	return nil
}

// settled returns the cluster as this member sees it once the members' ring
// digests agree with its own, or after a second (or half the timeout): a member
// that joined just now hears the others' digests within a few gossip rounds.
func (s *session) settled() registry.Snapshot {
	ctx, cancel := context.WithTimeout(s.ctx, min(time.Second, s.c.timeout/2))
	defer cancel()
	s.reg.WaitFor(ctx, func(snap registry.Snapshot) bool { return len(snap.Divergent()) == 0 })
	return s.reg.Snapshot()
}

func cmdKeys(args []string, stdout, stderr io.Writer) error {
	c := newFlags("keys", "install|use|remove KEY", 0, stderr)
	if err := c.parse(args); err != nil {
		return err
	}
	if len(c.args) != 2 {
		return usageError{msg: "want install, use or remove, and a KEY (hex or base64): install the new key, use it, then remove the old one"}
	}
	key, err := decodeKey(c.args[1])
	if err != nil {
		return usageError{msg: "KEY " + err.Error()}
	}
	s, err := c.connect(true)
	if err != nil {
		return err
	}
	defer s.close()
	ops := map[string]func(context.Context, []byte) error{"install": s.reg.InstallKey, "use": s.reg.UseKey, "remove": s.reg.RemoveKey}
	op, ok := ops[c.args[0]]
	if !ok {
		return usageError{msg: fmt.Sprintf("unknown keys operation %q: use install, use or remove", c.args[0])}
	}
	if err := op(s.ctx, key); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: done on every member (%d)\n", c.args[0], len(s.reg.Members()))
	return nil
}

func writeJSON(w io.Writer, v any) error {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return err
	}
	_, err := w.Write(terminalJSON(b.Bytes())) // a terminal shows <, > and & as they are
	return err
}
