package codegen

import (
	"fmt"
	"go/types"
	"slices"
	"strings"
)

// typeDesc is one rpc.TypeDesc of a descriptor, rendered as a Go literal.
type typeDesc struct {
	name, literal string
}

// describer collects the named types a service's parameters and results use, for
// its descriptor's Types.
type describer struct {
	names *imports // spells types as the descriptor's Params do
	rpc   string
	seen  map[string]bool
	out   []typeDesc
}

// typeDescs returns the rpc.TypeDesc literals of svc, sorted by name.
func (e *emitter) typeDescs(svc *service, rpcName string) []typeDesc {
	d := &describer{names: e.descNames, rpc: rpcName, seen: map[string]bool{}}
	for _, m := range svc.Methods {
		for _, p := range m.Params {
			d.walk(p.Type)
		}
		for _, r := range m.Results {
			d.walk(r.Type)
		}
		for _, t := range m.streamTypes() {
			d.walk(t)
		}
	}
	// By the names as the output prints them: the package's own types lose their
	// qualifier there (unshadow).
	bare := func(n string) string { return strings.TrimPrefix(n, selfMarker+".") }
	slices.SortFunc(d.out, func(a, b typeDesc) int { return strings.Compare(bare(a.name), bare(b.name)) })
	return d.out
}

func (d *describer) walk(t types.Type) {
	switch u := types.Unalias(t).(type) {
	case *types.Named:
		d.named(u)
	case *types.Pointer:
		d.walk(u.Elem())
	case *types.Slice:
		d.walk(u.Elem())
	case *types.Array:
		d.walk(u.Elem())
	case *types.Map:
		d.walk(u.Key())
		d.walk(u.Elem())
	case *types.Struct:
		for _, f := range describedFields(u) {
			d.walk(f.typ)
		}
	}
}

func (d *describer) named(n *types.Named) {
	name := d.names.typeString(n)
	if d.seen[name] {
		return
	}
	d.seen[name] = true
	lit := fmt.Sprintf("{Name: %q", name)
	switch _, isStruct := n.Underlying().(*types.Struct); {
	case hasCustomJSON(n):
		lit += ", Custom: true}"
	case isStruct:
		lit += d.fields(n)
	default:
		lit += fmt.Sprintf(", Type: %q}", d.names.typeString(n.Underlying()))
		d.walk(n.Underlying())
	}
	d.out = append(d.out, typeDesc{name: name, literal: lit})
}

// fields renders a struct's members, each on a line, and walks their types.
func (d *describer) fields(n *types.Named) string {
	fields := describedFields(n)
	if len(fields) == 0 {
		return "}"
	}
	var b strings.Builder
	fmt.Fprintf(&b, ", Fields: []%s.FieldDesc{\n", d.rpc)
	for _, f := range fields {
		fmt.Fprintf(&b, "{Name: %q", f.name)
		if goName := f.path[len(f.path)-1].Name(); goName != f.name {
			fmt.Fprintf(&b, ", Go: %q", goName)
		}
		fmt.Fprintf(&b, ", Type: %q", d.names.typeString(f.typ))
		if f.omitEmpty {
			b.WriteString(", OmitEmpty: true")
		}
		if f.quoted {
			b.WriteString(", Quoted: true")
		}
		if via := viaPointers(f.path); via != "" {
			fmt.Fprintf(&b, ", Via: %q", via)
		}
		b.WriteString("},\n")
		d.walk(f.typ)
	}
	b.WriteString("}}")
	return b.String()
}

// viaPointers is a promoted field's rpc.FieldDesc.Via: the embedded fields of path
// (the field last) up to the last that is a pointer, pointers starred, or "" when
// none is.
func viaPointers(path []*types.Var) string {
	var steps []string
	last := -1
	for i, e := range path[:len(path)-1] {
		step := e.Name()
		if _, ok := e.Type().Underlying().(*types.Pointer); ok {
			step, last = "*"+step, i
		}
		steps = append(steps, step)
	}
	return strings.Join(steps[:last+1], ".")
}
