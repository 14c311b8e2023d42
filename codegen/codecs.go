package codegen

import (
	"cmp"
	"fmt"
	"go/types"
	"reflect"
	"slices"
	"strings"
	"unicode"

	"golang.org/x/tools/go/types/typeutil"
)

// shape is how a value of some type is written and read by generated code.
type shape int

const (
	shapeValue shape = iota // go-json, through Value
	shapeString
	shapeBool
	shapeInt
	shapeUint
	shapeFloat
	shapeBytes
	shapeFunc // a generated encoder and decoder
)

// codecs plans the JSON encoders and decoders of one output file: one pair of
// functions per type that needs them, named after the file's first interface.
type codecs struct {
	self   *types.Package
	prefix string
	off    bool
	shapes typeutil.Map // types.Type -> shape, for the types seen
	funcs  typeutil.Map // types.Type -> *codecFunc
	order  []*codecFunc
	names  map[string]bool
}

// codecFunc is one type's pair of generated functions.
type codecFunc struct {
	t        types.Type
	enc, dec string
	fields   string // a struct's variable of JSON member names
}

func newCodecs(self *types.Package, firstIface string, off bool) *codecs {
	return &codecs{self: self, prefix: unexportedName(firstIface), off: off, names: map[string]bool{}}
}

// shapeOf decides how t travels. Types generated code cannot reach or must not
// bypass go through go-json: their own JSON methods, interfaces, unexported fields,
// generic types, the omitzero option, and types the output file cannot name.
func (cs *codecs) shapeOf(t types.Type) shape {
	t = types.Unalias(t)
	if s, ok := cs.shapes.At(t).(shape); ok {
		return s
	}
	cs.shapes.Set(t, shapeFunc) // a recursive type refers to its own functions
	s := cs.decide(t)
	cs.shapes.Set(t, s)
	return s
}

func (cs *codecs) decide(t types.Type) shape {
	if custom(t) || !cs.nameable(t) {
		return shapeValue
	}
	switch u := t.Underlying().(type) {
	case *types.Basic:
		return basicShape(u)
	case *types.Slice:
		if b, ok := types.Unalias(u.Elem()).(*types.Basic); ok && b.Kind() == types.Uint8 {
			return shapeBytes
		}
		if b, ok := u.Elem().Underlying().(*types.Basic); ok && b.Kind() == types.Uint8 {
			return shapeValue // base64 unless the named byte marshals itself: go-json knows
		}
		if cs.off {
			return shapeValue
		}
		cs.shapeOf(u.Elem())
		return shapeFunc
	case *types.Array:
		return cs.container(u.Elem())
	case *types.Pointer:
		return cs.container(u.Elem())
	case *types.Map:
		if cs.shapeOf(u.Key()) != shapeString && !isIntShape(cs.shapeOf(u.Key())) {
			return shapeValue
		}
		return cs.container(u.Elem())
	case *types.Struct:
		if cs.off {
			return shapeValue
		}
		fields, ok := jsonFields(t)
		if !ok {
			return shapeValue
		}
		for _, f := range fields {
			cs.shapeOf(f.typ)
		}
		return shapeFunc
	}
	return shapeValue
}

func (cs *codecs) container(elem types.Type) shape {
	if cs.off {
		return shapeValue
	}
	cs.shapeOf(elem)
	return shapeFunc
}

func isIntShape(s shape) bool { return s == shapeInt || s == shapeUint }

func basicShape(b *types.Basic) shape {
	switch {
	case b.Kind() == types.String:
		return shapeString
	case b.Kind() == types.Bool:
		return shapeBool
	case b.Info()&types.IsInteger != 0 && b.Info()&types.IsUnsigned != 0:
		return shapeUint
	case b.Info()&types.IsInteger != 0:
		return shapeInt
	case b.Info()&types.IsFloat != 0:
		return shapeFloat
	}
	return shapeValue
}

// custom reports whether t or *t has its own JSON or text methods, which generated
// code must not bypass.
func custom(t types.Type) bool {
	if p, ok := types.Unalias(t).(*types.Pointer); ok && hasCustomJSON(p.Elem()) {
		return true
	}
	return hasCustomJSON(t)
}

// nameable reports whether t's generated functions can be written: the output file
// can spell t, and the types those functions spell besides, the element and key
// types of its slice, array, pointer or map and the types its embedded pointers
// point to; and t is no instance of a generic type. A type they cannot spell (an
// unexported type of another package, or one in an internal package the output's
// package may not import) is handed to go-json, which needs no name for it.
func (cs *codecs) nameable(t types.Type) bool {
	if n, ok := types.Unalias(t).(*types.Named); ok && n.TypeArgs().Len() > 0 {
		return false
	}
	if _, ok := types.Unalias(t).(*types.Interface); ok || !cs.spellable(t) {
		return false
	}
	switch u := t.Underlying().(type) {
	case *types.Slice, *types.Array, *types.Pointer, *types.Map:
		return cs.spellable(u) // their elements and keys
	case *types.Struct:
		fields, _ := jsonFields(t)
		for _, f := range fields {
			for _, step := range f.path[:len(f.path)-1] {
				if p, ok := types.Unalias(step.Type()).(*types.Pointer); ok && !cs.spellable(p.Elem()) {
					return false // its decoder allocates what the pointer points to
				}
			}
		}
	}
	return true
}

// spellable reports whether the output file can write type t: every named type in
// it is predeclared, the package's own, or exported from a package the output's
// package may import, and every field of a struct type in it is exported or the
// package's own.
func (cs *codecs) spellable(t types.Type) bool {
	switch t := types.Unalias(t).(type) {
	case *types.Named:
		if p := t.Obj().Pkg(); p != nil && p != cs.self && (!t.Obj().Exported() || !importable(p.Path(), cs.self.Path())) {
			return false
		}
		for i := range t.TypeArgs().Len() {
			if !cs.spellable(t.TypeArgs().At(i)) {
				return false
			}
		}
		return true
	case *types.Pointer:
		return cs.spellable(t.Elem())
	case *types.Slice:
		return cs.spellable(t.Elem())
	case *types.Array:
		return cs.spellable(t.Elem())
	case *types.Map:
		return cs.spellable(t.Key()) && cs.spellable(t.Elem())
	case *types.Struct:
		for i := range t.NumFields() {
			f := t.Field(i)
			if !f.Exported() && f.Pkg() != cs.self || !cs.spellable(f.Type()) {
				return false
			}
		}
		return true
	case *types.Basic:
		return true
	case *types.Interface:
		return t.Empty() // the others cannot travel
	}
	return false // channels, functions and type parameters cannot travel
}

// importable reports whether a package at path from may import the package at path
// p: Go lets only the tree rooted at the parent of an internal directory import
// what is inside it, and only the standard library its top-level internal packages.
func importable(p, from string) bool {
	var parent string
	switch {
	case strings.HasSuffix(p, "/internal"):
		parent = strings.TrimSuffix(p, "/internal")
	case strings.Contains(p, "/internal/"):
		parent = p[:strings.LastIndex(p, "/internal/")]
	case p == "internal" || strings.HasPrefix(p, "internal/"):
		return false
	default:
		return true
	}
	return from == parent || strings.HasPrefix(from, parent+"/")
}

// funcOf returns the generated functions of t, planning them and those of the types
// they call on first use.
func (cs *codecs) funcOf(t types.Type) *codecFunc {
	t = types.Unalias(t)
	if f, ok := cs.funcs.At(t).(*codecFunc); ok {
		return f
	}
	name := cs.uniqueName(typeName(t, cs.self))
	f := &codecFunc{t: t, enc: cs.prefix + "Encode" + name, dec: cs.prefix + "Decode" + name, fields: cs.prefix + "Fields" + name}
	cs.funcs.Set(t, f)
	cs.order = append(cs.order, f)
	for _, dep := range cs.deps(t) {
		if cs.shapeOf(dep) == shapeFunc {
			cs.funcOf(dep)
		}
	}
	return f
}

// recursive reports whether t's generated functions may call themselves: t is among
// the types its own generated functions reach.
func (cs *codecs) recursive(t types.Type) bool {
	seen := typeutil.Map{}
	var reaches func(types.Type) bool
	reaches = func(from types.Type) bool {
		for _, dep := range cs.deps(from) {
			dep = types.Unalias(dep)
			if cs.shapeOf(dep) != shapeFunc {
				continue
			}
			if types.Identical(dep, t) {
				return true
			}
			if seen.At(dep) == nil {
				seen.Set(dep, true)
				if reaches(dep) {
					return true
				}
			}
		}
		return false
	}
	return reaches(t)
}

// deps lists the types t's functions write and read directly.
func (cs *codecs) deps(t types.Type) []types.Type {
	switch u := t.Underlying().(type) {
	case *types.Slice:
		return []types.Type{u.Elem()}
	case *types.Array:
		return []types.Type{u.Elem()}
	case *types.Pointer:
		return []types.Type{u.Elem()}
	case *types.Map:
		return []types.Type{u.Elem()}
	case *types.Struct:
		fields, _ := jsonFields(t)
		var out []types.Type
		for _, f := range fields {
			out = append(out, f.typ)
		}
		return out
	}
	return nil
}

// uniqueName returns base, or base with a number, so that the functions and
// variable named after it clash with no other type's and with nothing the package
// declares.
func (cs *codecs) uniqueName(base string) string {
	n := base
	for i := 2; cs.names[n] || cs.declared(n); i++ {
		n = fmt.Sprintf("%s%d", base, i)
	}
	cs.names[n] = true
	return n
}

// declared reports whether the package declares a name a codec named n would take.
func (cs *codecs) declared(n string) bool {
	for _, kind := range []string{"Encode", "Decode", "Fields"} {
		if cs.self.Scope().Lookup(cs.prefix+kind+n) != nil {
			return true
		}
	}
	return false
}

// typeName makes a Go identifier fragment that describes t: "Order", "SliceString",
// "MapStringPtrOrder".
func typeName(t types.Type, self *types.Package) string {
	switch t := types.Unalias(t).(type) {
	case *types.Named:
		n := t.Obj().Name()
		if p := t.Obj().Pkg(); p != nil && p != self {
			n = upperFirst(sanitize(p.Name())) + upperFirst(n)
		}
		return upperFirst(n)
	case *types.Basic:
		return upperFirst(t.Name())
	case *types.Pointer:
		return "Ptr" + typeName(t.Elem(), self)
	case *types.Slice:
		return "Slice" + typeName(t.Elem(), self)
	case *types.Array:
		return fmt.Sprintf("Array%d%s", t.Len(), typeName(t.Elem(), self))
	case *types.Map:
		return "Map" + typeName(t.Key(), self) + typeName(t.Elem(), self)
	case *types.Struct:
		return "Struct"
	}
	return "Any"
}

// jsonField is a field as encoding/json sees it, after embedding and promotion.
type jsonField struct {
	name      string
	tagged    bool
	index     []int
	path      []*types.Var // the fields from the struct down to this one
	typ       types.Type   // the field's type
	omitEmpty bool
	quoted    bool
}

// jsonFields lists the fields encoding/json writes for struct type t, in its order,
// with its rules for embedded structs (encoding/json's typeFields). ok is false when
// the struct or one it embeds has an unexported field or the omitzero option: such a
// type goes through go-json.
func jsonFields(t types.Type) ([]jsonField, bool) { return collectFields(t, false) }

// describedFields lists the members of struct type t's JSON for its descriptor,
// whichever codec writes it: unexported fields are left out as encoding/json leaves
// them, and omitzero counts as omitempty.
func describedFields(t types.Type) []jsonField {
	fields, _ := collectFields(t, true)
	return fields
}

func collectFields(t types.Type, lenient bool) ([]jsonField, bool) {
	type level struct {
		typ   types.Type
		index []int
		path  []*types.Var
	}
	var fields []jsonField
	next := []level{{typ: t}}
	visited := map[types.Type]bool{}
	var count, nextCount map[types.Type]int
	for len(next) > 0 {
		current := next
		next = nil
		count, nextCount = nextCount, map[types.Type]int{}
		for _, f := range current {
			if visited[f.typ] {
				continue
			}
			visited[f.typ] = true
			st := f.typ.Underlying().(*types.Struct)
			for i := range st.NumFields() {
				sf := st.Field(i)
				if !sf.Exported() {
					if !lenient {
						return nil, false
					}
					if !sf.Embedded() || !isStructOrPtr(sf.Type()) {
						continue // encoding/json follows only unexported embedded structs
					}
				}
				tag, _ := reflect.StructTag(st.Tag(i)).Lookup("json")
				if tag == "-" {
					continue
				}
				name, opts, _ := strings.Cut(tag, ",")
				omitZero := hasOpt(opts, "omitzero")
				if omitZero && !lenient {
					return nil, false
				}
				if !validTag(name) {
					name = ""
				}
				index := append(slices.Clone(f.index), i)
				path := append(slices.Clone(f.path), sf)
				ft := types.Unalias(sf.Type())
				if p, ok := ft.(*types.Pointer); ok {
					ft = types.Unalias(p.Elem())
				}
				if _, isStruct := ft.Underlying().(*types.Struct); name != "" || !sf.Embedded() || !isStruct {
					fields = append(fields, jsonField{
						name: cmp.Or(name, sf.Name()), tagged: name != "", index: index, path: path,
						typ: sf.Type(), omitEmpty: omitZero || hasOpt(opts, "omitempty"), quoted: hasOpt(opts, "string") && quotable(ft),
					})
					if count[f.typ] > 1 { // a duplicate, so that both are dropped below
						fields = append(fields, fields[len(fields)-1])
					}
					continue
				}
				nextCount[ft]++
				if nextCount[ft] == 1 {
					next = append(next, level{typ: ft, index: index, path: path})
				}
			}
		}
	}
	return dominantFields(fields), true
}

func isStructOrPtr(t types.Type) bool {
	if p, ok := types.Unalias(t).(*types.Pointer); ok {
		t = p.Elem()
	}
	_, ok := t.Underlying().(*types.Struct)
	return ok
}

// dominantFields drops the fields Go's embedding rules hide, except that a tagged
// field wins, and returns the rest in index order.
func dominantFields(fields []jsonField) []jsonField {
	slices.SortFunc(fields, func(a, b jsonField) int {
		if c := strings.Compare(a.name, b.name); c != 0 {
			return c
		}
		if c := cmp.Compare(len(a.index), len(b.index)); c != 0 {
			return c
		}
		if a.tagged != b.tagged {
			if a.tagged {
				return -1
			}
			return 1
		}
		return slices.Compare(a.index, b.index)
	})
	var out []jsonField
	for i := 0; i < len(fields); {
		j := i + 1
		for j < len(fields) && fields[j].name == fields[i].name {
			j++
		}
		group := fields[i:j]
		if len(group) == 1 || len(group[0].index) != len(group[1].index) || group[0].tagged != group[1].tagged {
			out = append(out, group[0])
		}
		i = j
	}
	slices.SortFunc(out, func(a, b jsonField) int { return slices.Compare(a.index, b.index) })
	return out
}

func hasOpt(opts, want string) bool {
	for _, o := range strings.Split(opts, ",") {
		if o == want {
			return true
		}
	}
	return false
}

// validTag is encoding/json's isValidTag.
func validTag(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		switch {
		case strings.ContainsRune("!#$%&()*+-./:;<=>?@[]^_{|}~ ", c):
		case !unicode.IsLetter(c) && !unicode.IsDigit(c):
			return false
		}
	}
	return true
}

// quotable reports whether the ",string" option applies to a field of type t.
func quotable(t types.Type) bool {
	b, ok := t.Underlying().(*types.Basic)
	return ok && basicShape(b) != shapeValue
}
