package codegen

import (
	"encoding/json"
	"fmt"
	"go/types"
	"strconv"
	"strings"
)

// codecFuncs writes every planned pair of functions, in the order they were planned.
func (e *emitter) codecFuncs(cs *codecs) {
	for i := 0; i < len(cs.order); i++ { // writing one may plan more
		f := cs.order[i]
		e.encodeFunc(cs, f)
		e.decodeFunc(cs, f)
	}
}

func (e *emitter) encodeFunc(cs *codecs, f *codecFunc) {
	rpcName := e.pkg(rpcPath)
	e.p("")
	e.p("// %s writes a %s as encoding/json does.", f.enc, e.typ(f.t))
	e.p("func %s(w *%s.JSONWriter, v *%s) {", f.enc, rpcName, e.typ(f.t))
	switch u := f.t.Underlying().(type) {
	case *types.Pointer:
		e.encodeRef(cs, f.t, func() { e.encodeValue(cs, u.Elem(), "(*(*v))") })
	case *types.Slice:
		e.encodeRef(cs, f.t, func() { e.encodeElems(cs, u.Elem(), "*v") })
	case *types.Array:
		e.encodeElems(cs, u.Elem(), "v")
	case *types.Map:
		e.encodeRef(cs, f.t, func() { e.encodeMap(cs, u) })
	case *types.Struct:
		e.encodeStruct(cs, f.t)
	}
	e.p("}")
}

// encodeRef writes null for a nil pointer, slice or map, else what body writes; a
// value of a recursive type may contain itself, so the writer checks for a cycle.
func (e *emitter) encodeRef(cs *codecs, t types.Type, body func()) {
	e.p("if *v == nil {")
	e.p(`w.Raw("null")`)
	e.p("return")
	e.p("}")
	if !cs.recursive(t) {
		body()
		return
	}
	rpcName := e.pkg(rpcPath)
	e.p("if !%s.EnterRef(w, v) {", rpcName)
	e.p("return")
	e.p("}")
	body()
	e.p("%s.LeaveRef(w, v)", rpcName)
}

func (e *emitter) encodeElems(cs *codecs, elem types.Type, v string) {
	e.p(`w.Raw("[")`)
	e.p("for i := range %s {", v)
	e.p("if i > 0 {")
	e.p(`w.Raw(",")`)
	e.p("}")
	e.encodeValue(cs, elem, fmt.Sprintf("(%s)[i]", v))
	e.p("}")
	e.p(`w.Raw("]")`)
}

func (e *emitter) encodeMap(cs *codecs, m *types.Map) {
	rpcName := e.pkg(rpcPath)
	e.p("s := w.ObjectStart()")
	e.p("for _, k := range %s.%s(*v) {", rpcName, sortFunc(cs.shapeOf(m.Key())))
	switch cs.shapeOf(m.Key()) {
	case shapeString:
		e.p(`w.Raw(",")`)
		e.p("w.String(%s)", convert(m.Key(), "string", "k"))
		e.p(`w.Raw(":")`)
	case shapeInt:
		e.p(`w.Raw(",\"")`)
		e.p("w.Int(int64(k))")
		e.p(`w.Raw("\":")`)
	default:
		e.p(`w.Raw(",\"")`)
		e.p("w.Uint(uint64(k))")
		e.p(`w.Raw("\":")`)
	}
	e.p("x := (*v)[k]")
	e.encodeValue(cs, m.Elem(), "x")
	e.p("}")
	e.p("w.ObjectEnd(s)")
}

func sortFunc(key shape) string {
	switch key {
	case shapeInt:
		return "SortedIntKeys"
	case shapeUint:
		return "SortedUintKeys"
	}
	return "SortedKeys"
}

func (e *emitter) encodeStruct(cs *codecs, t types.Type) {
	fields, _ := jsonFields(t)
	e.p("s := w.ObjectStart()")
	for _, f := range fields {
		expr := fieldExpr(f)
		var conds []string
		for i, step := range f.path[:len(f.path)-1] {
			if _, ok := types.Unalias(step.Type()).(*types.Pointer); ok {
				conds = append(conds, fieldExpr(jsonField{path: f.path[:i+1]})+" != nil")
			}
		}
		if f.omitEmpty {
			if c := nonEmpty(f.typ, expr); c != "" {
				conds = append(conds, c)
			}
		}
		if len(conds) > 0 {
			e.p("if %s {", strings.Join(conds, " && "))
		}
		e.p("w.Raw(%s)", strconv.Quote(","+jsonKey(f.name)+":"))
		if f.quoted && e.quotable(cs, f.typ) {
			e.encodeQuoted(cs, f.typ, expr)
		} else {
			e.encodeValue(cs, f.typ, expr)
		}
		if len(conds) > 0 {
			e.p("}")
		}
	}
	e.p("w.ObjectEnd(s)")
}

// quotable reports whether the ",string" option changes how a field of type t is
// written: basic kinds, or an unnamed pointer to one, that do not marshal
// themselves (json.Number and types that only unmarshal themselves included, which
// encoding/json writes in quotes too).
func (e *emitter) quotable(cs *codecs, t types.Type) bool {
	t = derefUnnamed(t)
	if isJSONNumber(t) {
		return true
	}
	if _, ok := t.Underlying().(*types.Basic); ok && cs.shapeOf(t) == shapeValue {
		return !marshalsItself(t)
	}
	s := cs.shapeOf(t)
	return s != shapeValue && s != shapeFunc && s != shapeBytes
}

// marshalsItself reports whether t or *t has MarshalJSON or MarshalText, which
// encoding/json calls whatever the ",string" option says.
func marshalsItself(t types.Type) bool {
	ms := types.NewMethodSet(types.NewPointer(t))
	return ms.Lookup(nil, "MarshalJSON") != nil || ms.Lookup(nil, "MarshalText") != nil
}

func (e *emitter) encodeQuoted(cs *codecs, t types.Type, expr string) {
	if p, ok := types.Unalias(t).(*types.Pointer); ok {
		e.p("if %s == nil {", expr)
		e.p(`w.Raw("null")`)
		e.p("} else {")
		e.encodeQuoted(cs, p.Elem(), "(*"+expr+")")
		e.p("}")
		return
	}
	if b, ok := t.Underlying().(*types.Basic); ok && cs.shapeOf(t) == shapeValue && !isJSONNumber(t) {
		// It only unmarshals itself: written as its kind is.
		e.encodeQuoted(cs, b, b.Name()+"("+expr+")")
		return
	}
	if cs.shapeOf(t) == shapeString {
		e.p("w.QuotedString(%s)", convert(t, "string", expr))
		return
	}
	e.p(`w.Raw("\"")`) // json.Number too: go-json writes it as a number, "0" when empty
	e.encodeValue(cs, t, expr)
	e.p(`w.Raw("\"")`)
}

// jsonKey is a member name as encoding/json writes it.
func jsonKey(name string) string {
	b, _ := json.Marshal(name)
	return string(b)
}

// fieldExpr is the selector of a field from v.
func fieldExpr(f jsonField) string {
	var b strings.Builder
	b.WriteString("v")
	for _, s := range f.path {
		b.WriteString("." + s.Name())
	}
	return b.String()
}

// nonEmpty is the condition under which omitempty keeps a field.
func nonEmpty(t types.Type, expr string) string {
	switch u := t.Underlying().(type) {
	case *types.Basic:
		switch {
		case u.Kind() == types.String:
			return expr + ` != ""`
		case u.Kind() == types.Bool:
			return expr
		case u.Info()&types.IsNumeric != 0:
			return expr + " != 0"
		}
	case *types.Slice, *types.Map, *types.Array:
		return "len(" + expr + ") != 0"
	case *types.Pointer, *types.Interface:
		return expr + " != nil"
	}
	return ""
}

// addr is the address of an addressable expression.
func addr(expr string) string {
	if strings.HasPrefix(expr, "(*") && strings.HasSuffix(expr, ")") && balanced(expr[2:len(expr)-1]) {
		return expr[2 : len(expr)-1]
	}
	return "&" + expr
}

func balanced(s string) bool {
	depth := 0
	for _, c := range s {
		switch c {
		case '(', '[':
			depth++
		case ')', ']':
			if depth--; depth < 0 {
				return false
			}
		}
	}
	return depth == 0
}

// encodeValue writes the statement that writes expr, of type t, to w.
func (e *emitter) encodeValue(cs *codecs, t types.Type, expr string) {
	switch cs.shapeOf(t) {
	case shapeString:
		e.p("w.String(%s)", convert(t, "string", expr))
	case shapeBool:
		e.p("w.Bool(%s)", convert(t, "bool", expr))
	case shapeInt:
		e.p("w.Int(%s)", convert(t, "int64", expr))
	case shapeUint:
		e.p("w.Uint(%s)", convert(t, "uint64", expr))
	case shapeFloat:
		bits := 64
		if b := t.Underlying().(*types.Basic); b.Kind() == types.Float32 {
			bits = 32
		}
		e.p("w.Float(%s, %d)", convert(t, "float64", expr), bits)
	case shapeBytes:
		e.p("w.Bytes(%s)", convertBytes(t, expr))
	case shapeFunc:
		e.p("%s(w, %s)", cs.funcOf(t).enc, addr(expr))
	default:
		e.p("w.Value(%s)", addr(expr))
	}
}

func (e *emitter) decodeFunc(cs *codecs, f *codecFunc) {
	rpcName := e.pkg(rpcPath)
	e.p("")
	e.fieldNames(f)
	e.p("// %s reads a %s as encoding/json does.", f.dec, e.typ(f.t))
	e.p("func %s(r *%s.JSONReader, v *%s) {", f.dec, rpcName, e.typ(f.t))
	switch u := f.t.Underlying().(type) {
	case *types.Pointer:
		e.p("if r.Null() {")
		e.p("*v = nil")
		e.p("return")
		e.p("}")
		e.p("if *v == nil {")
		e.p("*v = new(%s)", e.typ(u.Elem()))
		e.p("}")
		e.decodeValue(cs, u.Elem(), "(*(*v))")
	case *types.Slice:
		e.decodeSlice(cs, f.t, u)
	case *types.Array:
		e.decodeArray(cs, u)
	case *types.Map:
		e.decodeMap(cs, f.t, u)
	case *types.Struct:
		e.decodeStruct(cs, f.t)
	}
	e.p("}")
}

func (e *emitter) decodeSlice(cs *codecs, t types.Type, u *types.Slice) {
	elem := e.typ(u.Elem())
	e.p("if r.Null() {")
	e.p("*v = nil")
	e.p("return")
	e.p("}")
	e.p("if !r.Array() {")
	e.p("return")
	e.p("}")
	e.p("s := *v")
	// Growing keeps the elements past len(s) too: encoding/json decodes into them.
	e.p("if n := r.Len(); cap(s) < n {")
	e.p("s = append(make(%s, 0, n), s[:cap(s)]...)[:len(s)]", e.typ(t))
	e.p("}")
	e.p("i := 0")
	e.p("for ; r.Elem(i); i++ {")
	e.p("if i < cap(s) {")
	e.p("if len(s) <= i {") // not the builtin max, which the package may hide
	e.p("s = s[:i+1]")
	e.p("}")
	e.p("} else {")
	e.p("var z %s", elem)
	e.p("s = append(s, z)")
	e.p("}")
	e.decodeValue(cs, u.Elem(), "s[i]")
	e.p("}")
	e.p("if i == 0 {")
	e.p("s = %s{}", e.typ(t))
	e.p("}")
	e.p("*v = s[:i]")
}

func (e *emitter) decodeArray(cs *codecs, u *types.Array) {
	e.p("if !r.Array() {")
	e.p("return")
	e.p("}")
	e.p("i := 0")
	e.p("for ; r.Elem(i); i++ {")
	e.p("if i >= len(v) {")
	e.p("r.Skip()")
	e.p("continue")
	e.p("}")
	e.decodeValue(cs, u.Elem(), "v[i]")
	e.p("}")
	e.p("var z %s", e.typ(u.Elem()))
	e.p("for ; i < len(v); i++ {")
	e.p("v[i] = z")
	e.p("}")
}

func (e *emitter) decodeMap(cs *codecs, t types.Type, m *types.Map) {
	rpcName := e.pkg(rpcPath)
	e.p("if r.Null() {")
	e.p("*v = nil")
	e.p("return")
	e.p("}")
	e.p("if !r.Object() {")
	e.p("return")
	e.p("}")
	e.p("if *v == nil {")
	e.p("*v = make(%s)", e.typ(t))
	e.p("}")
	e.p("for i := 0; ; i++ {")
	e.p("k, ok := r.Field(i)")
	e.p("if !ok {")
	e.p("return")
	e.p("}")
	switch cs.shapeOf(m.Key()) {
	case shapeString:
		e.p("key := %s(k)", e.typ(m.Key()))
	case shapeInt:
		e.p("key := %s.ReadIntKey[%s](r, k)", rpcName, e.typ(m.Key()))
	default:
		e.p("key := %s.ReadUintKey[%s](r, k)", rpcName, e.typ(m.Key()))
	}
	e.p("var x %s", e.typ(m.Elem()))
	e.decodeValue(cs, m.Elem(), "x")
	e.p("(*v)[key] = x")
	e.p("}")
}

func (e *emitter) decodeStruct(cs *codecs, t types.Type) {
	fields, _ := jsonFields(t)
	e.p("if !r.Object() {")
	e.p("return")
	e.p("}")
	if len(fields) == 0 {
		e.p("for i := 0; ; i++ {")
		e.p("k, ok := r.Field(i)")
		e.p("if !ok {")
		e.p("return")
		e.p("}")
		e.p("_ = k")
		e.p("r.Skip()")
		e.p("}")
		return
	}
	e.p("f := -1")
	e.p("for i := 0; ; i++ {")
	e.p("var ok bool")
	e.p("if f, ok = r.Member(i, %s, f+1); !ok {", cs.funcOf(t).fields)
	e.p("return")
	e.p("}")
	e.p("switch f {")
	for i, f := range fields {
		e.p("case %d:", i)
		e.decodeField(cs, f)
	}
	e.p("default:")
	e.p("r.Skip()")
	e.p("}")
	e.p("}")
}

// fieldNames writes the variable of a struct's JSON member names that its decoder
// matches members against, before the decoder.
func (e *emitter) fieldNames(f *codecFunc) {
	if _, ok := f.t.Underlying().(*types.Struct); !ok {
		return
	}
	fields, _ := jsonFields(f.t)
	if len(fields) == 0 {
		return
	}
	var names []string
	for _, jf := range fields {
		names = append(names, strconv.Quote(jf.name))
	}
	e.p("// %s are the JSON member names %s reads, in the order of its cases.", f.fields, f.dec)
	e.p("var %s = []string{%s}", f.fields, strings.Join(names, ", "))
	e.p("")
}

// decodeField reads one field, making the embedded pointers on its way.
func (e *emitter) decodeField(cs *codecs, f jsonField) {
	for i, step := range f.path[:len(f.path)-1] {
		if p, ok := types.Unalias(step.Type()).(*types.Pointer); ok {
			sel := fieldExpr(jsonField{path: f.path[:i+1]})
			e.p("if %s == nil {", sel)
			e.p("%s = new(%s)", sel, e.typ(p.Elem()))
			e.p("}")
		}
	}
	expr := fieldExpr(f)
	if f.quoted && cs.shapeOf(derefUnnamed(f.typ)) == shapeValue {
		// json.Number or a type that unmarshals itself: encoding/json's rules for them.
		e.p("r.QuotedValue(%s)", addr(expr))
		return
	}
	if f.quoted && e.quotable(cs, f.typ) {
		e.decodeQuoted(cs, f.typ, expr)
		return
	}
	e.decodeValue(cs, f.typ, expr)
}

// derefUnnamed is the element type of an unnamed pointer type, else t itself: the
// type whose kind decides whether the ",string" option applies.
func derefUnnamed(t types.Type) types.Type {
	if p, ok := types.Unalias(t).(*types.Pointer); ok {
		return types.Unalias(p.Elem())
	}
	return types.Unalias(t)
}

func (e *emitter) decodeQuoted(cs *codecs, t types.Type, expr string) {
	p, isPtr := types.Unalias(t).(*types.Pointer)
	if !isPtr {
		e.p("if q, ok := r.Quoted(); ok {")
		e.decodeValueWith(cs, "q", "&q", t, expr)
		e.p("r.EndQuoted(&q)")
		e.p("}")
		return
	}
	e.p("if r.Null() {")
	e.p("%s = nil", expr)
	e.p("} else if q, ok := r.Quoted(); ok {")
	e.p("if q.Null() {")
	e.p("%s = nil", expr)
	e.p("} else {")
	e.p("if %s == nil {", expr)
	e.p("%s = new(%s)", expr, e.typ(p.Elem()))
	e.p("}")
	e.decodeValueWith(cs, "q", "&q", p.Elem(), "(*"+expr+")")
	e.p("}")
	e.p("r.EndQuoted(&q)")
	e.p("}")
}

// decodeValue writes the statement that reads expr, of type t, from r.
func (e *emitter) decodeValue(cs *codecs, t types.Type, expr string) {
	e.decodeValueWith(cs, "r", "r", t, expr)
}

// decodeValueWith reads with the reader recv (for methods) or ptr (for functions).
func (e *emitter) decodeValueWith(cs *codecs, recv, ptr string, t types.Type, expr string) {
	rpcName := e.pkg(rpcPath)
	switch cs.shapeOf(t) {
	case shapeString:
		e.p("%s.String(%s)", recv, convertPtr(t, "string", expr))
	case shapeBool:
		e.p("%s.Bool(%s)", recv, convertPtr(t, "bool", expr))
	case shapeInt:
		e.p("%s.ReadInt(%s, %s)", rpcName, ptr, addr(expr))
	case shapeUint:
		e.p("%s.ReadUint(%s, %s)", rpcName, ptr, addr(expr))
	case shapeFloat:
		e.p("%s.ReadFloat(%s, %s)", rpcName, ptr, addr(expr))
	case shapeBytes:
		if isPlainBytes(t) {
			e.p("%s.Bytes(%s)", recv, addr(expr))
		} else {
			e.p("%s.Bytes((*[]byte)(%s))", recv, addr(expr))
		}
	case shapeFunc:
		e.p("%s(%s, %s)", cs.funcOf(t).dec, ptr, addr(expr))
	default:
		if _, ok := t.Underlying().(*types.Slice); ok && !custom(t) {
			// go-json leaves a slice of a named byte type as it was on null, where
			// encoding/json sets it to nil.
			e.p("if %s.Null() {", recv)
			e.p("%s = nil", expr)
			e.p("} else {")
			e.p("%s.Value(%s)", recv, addr(expr))
			e.p("}")
			return
		}
		e.p("%s.Value(%s)", recv, addr(expr))
	}
}
