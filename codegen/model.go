package codegen

import (
	"cmp"
	"errors"
	"fmt"
	"go/ast"
	"go/token"
	"go/types"
	"reflect"
	"slices"
	"strings"
)

// service is one interface to generate for.
type service struct {
	Iface    string // the interface's Go name
	WireName string // the service name on the wire
	Methods  []*method
	named    *types.Named
}

// method is one method of a service, checked.
type method struct {
	Name       string
	Index      int
	HasCtx     bool
	Params     []*param
	Results    []*result
	Oneway     bool
	Idempotent bool
	RouteKey   []string     // parameter name, then field names; nil for the default
	routePath  []string     // RouteKey with the embedded fields a promoted field is reached through
	routeType  []types.Type // the type of each step of routePath
	pos        token.Pos
	// In is the caller's stream (an iter.Seq[T] last parameter, not in Params), its
	// Type the messages' T; Out the provider's (an iter.Seq2[T, error] result, not in
	// Results). Nil when the method does not stream that way.
	In  *param
	Out *result
}

// streams reports whether the method streams in either direction.
func (m *method) streams() bool { return m.In != nil || m.Out != nil }

type param struct {
	Name     string // as declared; may be empty
	Var      string // the identifier the output uses
	Type     types.Type
	Variadic bool
	Codec    codec
}

type result struct {
	Name  string // as declared; may be empty
	Var   string
	Field string // field of the async results struct
	Type  types.Type
	Codec codec
}

// codec is how a value travels: a typed fast path of package rpc, or go-json.
type codec int

const (
	codecValue codec = iota
	codecString
	codecBool
	codecInt
	codecUint
	codecFloat
	codecBytes
	codecGen // the generated functions of its type
)

const directivePrefix = "//ringrpc:"

// buildService checks an interface and turns it into a service.
func (l *loaded) buildService(name string) (*service, error) {
	named, ts, err := l.lookupInterface(name)
	if err != nil {
		return nil, err
	}
	svc := &service{Iface: name, WireName: l.pkg.PkgPath + "." + name, named: named}
	dirs, err := l.directives(l.docOf(ts))
	if err != nil {
		return nil, err
	}
	for _, d := range dirs {
		switch d.name {
		case "service":
			if d.arg == "" || strings.ContainsAny(d.arg, " \t") {
				return nil, fmt.Errorf("%s: //ringrpc:service needs one name, like //ringrpc:service shop.Cart", l.pos(d.pos))
			}
			svc.WireName = d.arg
		default:
			return nil, fmt.Errorf("%s: //ringrpc:%s is not a directive for an interface; use //ringrpc:service NAME", l.pos(d.pos), d.name)
		}
	}
	iface := named.Underlying().(*types.Interface)
	if iface.NumMethods() == 0 {
		return nil, fmt.Errorf("%s: interface %s has no methods; add the methods its callers call, or leave %s out of -type", l.pos(named.Obj().Pos()), name, name)
	}
	docs := l.allMethodDocs(named)
	type methodErr struct {
		pos token.Pos
		err error
	}
	var errs []methodErr
	for i := range iface.NumMethods() {
		fn := iface.Method(i)
		m, err := l.buildMethod(fn, i, docs[fn.Name()], l.methodWhere(ts, fn))
		if err != nil {
			errs = append(errs, methodErr{fn.Pos(), err}) // report every method's problem at once
			continue
		}
		svc.Methods = append(svc.Methods, m)
	}
	if len(errs) > 0 {
		// In the order of the source, where go/types orders methods by name.
		slices.SortStableFunc(errs, func(a, b methodErr) int { return cmp.Compare(a.pos, b.pos) })
		var all []error
		for _, e := range errs {
			all = append(all, e.err)
		}
		return nil, errors.Join(all...)
	}
	return svc, nil
}

// allMethodDocs gathers method docs of the interface and of the interfaces it embeds
// from this package; embedded interfaces of other packages carry no directives.
func (l *loaded) allMethodDocs(named *types.Named) map[string]*ast.CommentGroup {
	docs := map[string]*ast.CommentGroup{}
	var walk func(n *types.Named, depth int)
	walk = func(n *types.Named, depth int) {
		if depth > 16 || n.Obj().Pkg() != l.pkg.Types {
			return
		}
		for k, v := range methodDocs(l.typeSpec(n.Obj().Pos())) {
			if _, ok := docs[k]; !ok {
				docs[k] = v
			}
		}
		it := n.Underlying().(*types.Interface)
		for i := range it.NumEmbeddeds() {
			if e, ok := types.Unalias(it.EmbeddedType(i)).(*types.Named); ok {
				walk(e, depth+1)
			}
		}
	}
	walk(named, 0)
	return docs
}

// methodWhere starts the errors about method fn of the interface ts declares: its
// position and name. A method of an interface of another package (the standard
// library's, say) is reported at the line of this package that embeds that interface,
// which is the line the user can change, and the interface is named.
func (l *loaded) methodWhere(ts *ast.TypeSpec, fn *types.Func) string {
	if fn.Pkg() != l.pkg.Types {
		if pos, embedded := l.embedding(ts, fn, 0); pos.IsValid() {
			return fmt.Sprintf("%s: method %s, from the embedded interface %s (declared at %s)", l.pos(pos), fn.Name(), embedded, l.pos(fn.Pos()))
		}
	}
	return fmt.Sprintf("%s: method %s", l.pos(fn.Pos()), fn.Name())
}

// embedding finds the element of the interface ts declares that brings method fn
// in, following the interfaces of this package it embeds down to the one that embeds
// fn's own, and returns its position and its type.
func (l *loaded) embedding(ts *ast.TypeSpec, fn *types.Func, depth int) (token.Pos, string) {
	if ts == nil || depth > 16 {
		return token.NoPos, ""
	}
	it, ok := ts.Type.(*ast.InterfaceType)
	if !ok {
		return token.NoPos, ""
	}
	for _, f := range it.Methods.List {
		t := l.pkg.TypesInfo.TypeOf(f.Type)
		if len(f.Names) > 0 || t == nil || !hasMethod(t, fn) {
			continue
		}
		if n, ok := types.Unalias(t).(*types.Named); ok && n.Obj().Pkg() == l.pkg.Types {
			if inner := l.typeSpec(n.Obj().Pos()); inner != nil {
				if pos, s := l.embedding(inner, fn, depth+1); pos.IsValid() {
					return pos, s
				}
			}
		}
		return f.Type.Pos(), types.TypeString(t, byName(l.pkg.Types))
	}
	return token.NoPos, ""
}

// hasMethod reports whether interface type t has method fn itself.
func hasMethod(t types.Type, fn *types.Func) bool {
	it, ok := t.Underlying().(*types.Interface)
	if !ok {
		return false
	}
	for i := range it.NumMethods() {
		if it.Method(i) == fn {
			return true
		}
	}
	return false
}

func (l *loaded) buildMethod(fn *types.Func, index int, doc *ast.CommentGroup, where string) (*method, error) {
	sig := fn.Type().(*types.Signature)
	m := &method{Name: fn.Name(), Index: index, pos: fn.Pos()}
	at := func(format string, args ...any) error {
		return fmt.Errorf("%s: %s", where, fmt.Sprintf(format, args...))
	}
	var errs []error // every parameter's and result's problems
	params := sig.Params()
	for i := range params.Len() {
		v := params.At(i)
		if isContext(v.Type()) {
			if i != 0 {
				return nil, at("context.Context must be the first parameter")
			}
			m.HasCtx = true
			continue
		}
		if ok, err := l.streamParam(m, v, i, params.Len(), at); ok || err != nil {
			if err != nil {
				errs = append(errs, err)
			}
			continue
		}
		if err := l.cannotTravel(v.Type(), at, "parameter "+displayName(v.Name(), i)); err != nil {
			errs = append(errs, err)
			continue
		}
		p := &param{Name: v.Name(), Type: v.Type(), Variadic: sig.Variadic() && i == params.Len()-1}
		p.Codec = codecOf(v.Type())
		if p.Variadic {
			p.Codec = codecValue
		}
		m.Params = append(m.Params, p)
	}
	if err := l.buildResults(m, sig, at); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if err := checkStreamShape(m, at); err != nil {
		return nil, err
	}
	if err := l.applyMethodDirectives(m, doc, at); err != nil {
		return nil, err
	}
	return m, nil
}

func (l *loaded) buildResults(m *method, sig *types.Signature, at func(string, ...any) error) error {
	res := sig.Results()
	if ok, err := l.streamResult(m, res, at); ok || err != nil {
		return err
	}
	if res.Len() == 0 {
		m.Oneway = true
		return nil
	}
	if !isError(res.At(res.Len() - 1).Type()) {
		return at("it returns results but no trailing error: add error as the last result (values travel back with it), or return nothing to make the method oneway")
	}
	var errs []error
	for i := range res.Len() - 1 {
		v := res.At(i)
		if isError(v.Type()) {
			return at("only the last result may be an error; return one error, last, and join the failures into it (errors.Join) or send their details as a result of another type")
		}
		if iterArgs(v.Type(), "Seq") != nil || iterArgs(v.Type(), "Seq2") != nil {
			return at("result %s: a provider streams with iter.Seq2[T, error] as the only result", displayName(v.Name(), i))
		}
		if err := l.cannotTravel(v.Type(), at, "result "+displayName(v.Name(), i)); err != nil {
			errs = append(errs, err)
			continue
		}
		m.Results = append(m.Results, &result{Name: v.Name(), Type: v.Type(), Codec: codecOf(v.Type())})
	}
	return errors.Join(errs...)
}

func displayName(name string, i int) string {
	if name == "" || name == "_" {
		return fmt.Sprintf("%d", i+1)
	}
	return name
}

type directive struct {
	name, arg string
	pos       token.Pos
}

func (l *loaded) directives(doc *ast.CommentGroup) ([]directive, error) {
	if doc == nil {
		return nil, nil
	}
	var out []directive
	for _, c := range doc.List {
		text, ok := strings.CutPrefix(c.Text, directivePrefix)
		if !ok {
			if spaced, isDir := strings.CutPrefix(strings.TrimLeft(strings.TrimPrefix(c.Text, "//"), " \t"), "ringrpc:"); isDir && strings.HasPrefix(c.Text, "//") {
				return nil, fmt.Errorf("%s: %q is read as a comment, not a directive: write it //ringrpc:%s, with no space after the slashes", l.pos(c.Pos()), c.Text, spaced)
			}
			continue
		}
		name, arg, _ := strings.Cut(strings.TrimSpace(text), " ")
		out = append(out, directive{name: name, arg: strings.TrimSpace(arg), pos: c.Pos()})
	}
	return out, nil
}

func (l *loaded) applyMethodDirectives(m *method, doc *ast.CommentGroup, at func(string, ...any) error) error {
	dirs, err := l.directives(doc)
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, d := range dirs {
		if seen[d.name] {
			return fmt.Errorf("%s: method %s: //ringrpc:%s is given twice; keep one", l.pos(d.pos), m.Name, d.name)
		}
		seen[d.name] = true
		switch d.name {
		case "routekey":
			if err := l.resolveRouteKey(m, d); err != nil {
				return err
			}
		case "idempotent":
			if d.arg != "" {
				return fmt.Errorf("%s: method %s: //ringrpc:idempotent takes nothing after it; got %q", l.pos(d.pos), m.Name, d.arg)
			}
			m.Idempotent = true
		default:
			return fmt.Errorf("%s: method %s: unknown directive //ringrpc:%s; a method takes //ringrpc:routekey PARAM[.Field...] and //ringrpc:idempotent", l.pos(d.pos), m.Name, d.name)
		}
	}
	return nil
}

// resolveRouteKey checks a route-key path against the parameters and their fields.
func (l *loaded) resolveRouteKey(m *method, d directive) error {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("%s: method %s: %s: %s", l.pos(d.pos), m.Name, strings.TrimSpace("//ringrpc:routekey "+d.arg), fmt.Sprintf(format, args...))
	}
	if d.arg == "" {
		return fail("name the parameter, like //ringrpc:routekey userID or //ringrpc:routekey req.User.ID")
	}
	parts := strings.Split(d.arg, ".")
	var p *param
	for _, cand := range m.Params {
		if cand.Name == parts[0] {
			p = cand
		}
	}
	if p == nil {
		var names []string
		for _, cand := range m.Params {
			if cand.Name != "" && cand.Name != "_" {
				names = append(names, cand.Name)
			}
		}
		if len(names) == 0 {
			return fail("no parameter named %q: the method's parameters have no names; name them in the interface", parts[0])
		}
		return fail("no parameter named %q (parameters: %s)", parts[0], strings.Join(names, ", "))
	}
	t := p.Type
	// The path is spelt out with the embedded fields a promoted field is reached
	// through, so that a nil embedded pointer on the way is checked as any other.
	path, steps := []string{parts[0]}, []types.Type{t}
	for _, f := range parts[1:] {
		obj, index, _ := types.LookupFieldOrMethod(t, true, l.pkg.Types, f)
		v, ok := obj.(*types.Var)
		if !ok || !v.IsField() {
			return fail("%s has no field %s", types.TypeString(t, types.RelativeTo(l.pkg.Types)), f)
		}
		for _, i := range index[:len(index)-1] {
			s := t
			if ptr, ok := s.Underlying().(*types.Pointer); ok {
				s = ptr.Elem()
			}
			e := s.Underlying().(*types.Struct).Field(i)
			if !e.Exported() && e.Pkg() != l.pkg.Types {
				if _, ok := e.Type().Underlying().(*types.Pointer); ok {
					return fail("%s is promoted through the embedded pointer %s, which this package cannot check for nil; name a field of an exported type", f, e.Name())
				}
				t = e.Type()
				continue // promoted past a field this package cannot name
			}
			path, t = append(path, e.Name()), e.Type()
			steps = append(steps, t)
		}
		path, t = append(path, f), v.Type()
		steps = append(steps, t)
	}
	m.RouteKey, m.routePath, m.routeType = parts, path, steps
	return nil
}

func isContext(t types.Type) bool {
	n, ok := types.Unalias(t).(*types.Named)
	return ok && n.Obj().Pkg() != nil && n.Obj().Pkg().Path() == "context" && n.Obj().Name() == "Context"
}

func isError(t types.Type) bool {
	return types.Identical(t, types.Universe.Lookup("error").Type())
}

// isJSONNumber reports whether t is encoding/json's Number.
func isJSONNumber(t types.Type) bool {
	n, ok := types.Unalias(t).(*types.Named)
	return ok && n.Obj().Pkg() != nil && n.Obj().Pkg().Path() == "encoding/json" && n.Obj().Name() == "Number"
}

// hasCustomJSON reports whether t or *t marshals itself, which the typed fast paths
// would bypass, or t is json.Number, which encoding/json writes as a number.
func hasCustomJSON(t types.Type) bool {
	if _, ok := t.Underlying().(*types.Interface); ok {
		return false
	}
	if isJSONNumber(t) {
		return true
	}
	ms := types.NewMethodSet(types.NewPointer(t))
	for _, name := range []string{"MarshalJSON", "UnmarshalJSON", "MarshalText", "UnmarshalText"} {
		if ms.Lookup(nil, name) != nil {
			return true
		}
	}
	return false
}

// hasMethodNamed reports whether t's method set has a method called name.
func hasMethodNamed(t types.Type, name string) bool {
	return types.NewMethodSet(t).Lookup(nil, name) != nil
}

// codecOf picks the typed fast path for a type, or go-json.
func codecOf(t types.Type) codec {
	t = types.Unalias(t)
	if hasCustomJSON(t) {
		return codecValue
	}
	switch u := t.Underlying().(type) {
	case *types.Basic:
		switch {
		case u.Kind() == types.String:
			return codecString
		case u.Kind() == types.Bool:
			return codecBool
		case u.Info()&types.IsInteger != 0 && u.Info()&types.IsUnsigned != 0:
			return codecUint
		case u.Info()&types.IsInteger != 0:
			return codecInt
		case u.Info()&types.IsFloat != 0:
			return codecFloat
		}
	case *types.Slice:
		if b, ok := u.Elem().(*types.Basic); ok && b.Kind() == types.Uint8 {
			return codecBytes
		}
	}
	return codecValue
}

// unsupported explains why a type cannot travel as JSON: every reason, one for each
// field of a struct that cannot, or none. seen holds the types already looked
// through in one parameter or result: each is reported once there, at the first
// field that reaches it, so that the reasons stay as many as the types however
// the types share or reach each other, and a recursive type adds none again.
func unsupported(t types.Type, pkg *types.Package, seen map[types.Type]bool) []string {
	t = types.Unalias(t)
	if seen[t] {
		return nil
	}
	seen[t] = true
	if hasCustomJSON(t) {
		return nil
	}
	switch u := t.Underlying().(type) {
	case *types.Basic:
		switch {
		case u.Kind() == types.Invalid:
			// A name only an earlier output declared: those are emptied while the
			// package loads, so that a stale one never stops its regeneration.
			return []string{"it names a type that only a file ringrpc-gen wrote declares (a client, server or results type of another interface); an interface cannot use generated types: declare a type of your own"}
		case u.Info()&types.IsComplex != 0:
			return []string{"complex numbers have no JSON form; use two floats or a struct"}
		case u.Kind() == types.UnsafePointer:
			return []string{"unsafe.Pointer cannot travel; send the value it points to"}
		}
	case *types.Chan:
		return []string{"channels cannot travel between processes; stream the values instead, with an iter.Seq parameter or an iter.Seq2[T, error] result"}
	case *types.Signature:
		return []string{"functions cannot travel between processes; send data the provider acts on instead, such as the name of an operation it knows"}
	case *types.Interface:
		if !u.Empty() {
			return []string{fmt.Sprintf("interface type %s cannot be decoded: the side that receives it cannot tell which type to make; use a concrete type, or any", types.TypeString(t, types.RelativeTo(pkg)))}
		}
	case *types.TypeParam:
		return []string{"type parameters are not supported"}
	case *types.Pointer:
		return unsupported(u.Elem(), pkg, seen)
	case *types.Slice:
		return unsupported(u.Elem(), pkg, seen)
	case *types.Array:
		return unsupported(u.Elem(), pkg, seen)
	case *types.Map:
		reasons := unsupported(u.Elem(), pkg, seen)
		if r := unsupportedKey(u.Key(), pkg); r != "" {
			reasons = append([]string{r}, reasons...)
		}
		return reasons
	case *types.Struct:
		return unsupportedFields(u, pkg, seen)
	}
	return nil
}

func unsupportedKey(k types.Type, pkg *types.Package) string {
	if b, ok := k.Underlying().(*types.Basic); ok && b.Info()&(types.IsString|types.IsInteger) != 0 {
		return ""
	}
	// encoding/json writes a key with its value's MarshalText and reads it with
	// UnmarshalText; it never uses MarshalJSON for one.
	if hasMethodNamed(k, "MarshalText") && hasMethodNamed(types.NewPointer(k), "UnmarshalText") {
		return ""
	}
	return fmt.Sprintf("map keys of type %s have no JSON form; use strings, integers, or a type with MarshalText and UnmarshalText methods", types.TypeString(k, byName(pkg)))
}

func unsupportedFields(s *types.Struct, pkg *types.Package, seen map[types.Type]bool) []string {
	var reasons []string
	for i := range s.NumFields() {
		f := s.Field(i)
		if !f.Exported() && !f.Embedded() || jsonIgnored(s.Tag(i)) {
			continue
		}
		for _, r := range unsupported(f.Type(), pkg, seen) {
			reasons = append(reasons, fmt.Sprintf("field %s: %s", f.Name(), r))
		}
	}
	return reasons
}

// cannotTravel says, with at, why t, which what names, cannot travel as JSON: one
// error for each reason. It returns nil when t can.
func (l *loaded) cannotTravel(t types.Type, at func(string, ...any) error, what string) error {
	var errs []error
	for _, r := range unsupported(t, l.pkg.Types, map[types.Type]bool{}) {
		errs = append(errs, at("%s: %s", what, r))
	}
	return errors.Join(errs...)
}

func jsonIgnored(tag string) bool {
	v, _ := reflect.StructTag(tag).Lookup("json")
	return v == "-" // "-," names a field "-"
}

// byName qualifies types by their package's name, as the user's file does, or not at
// all in pkg.
func byName(pkg *types.Package) types.Qualifier {
	return func(p *types.Package) string {
		if p == pkg {
			return ""
		}
		return p.Name()
	}
}
