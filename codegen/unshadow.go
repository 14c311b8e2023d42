package codegen

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/format"
	"go/parser"
	"go/token"
	"go/types"
)

// selfMarker qualifies the package's own types in the output until unshadow removes
// it, so that a reference to the package's type d is told from a generated local d.
const selfMarker = "ringrpcSelfPkg"

// unshadow renames the output's locals that the package's own top-level names share,
// which they would hide from the rest of their function (a local d hides type d), and
// removes selfMarker. A predeclared name the output uses (len, append, string, ...)
// that the package declares again cannot be renamed: that is an error at the
// package's declaration, which pos spells. ifaces are the interfaces of the output,
// which it names without selfMarker.
func unshadow(src []byte, self *types.Package, ifaces map[string]bool, pos func(token.Pos) string) ([]byte, error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "", src, parser.ParseComments|parser.SkipObjectResolution)
	if err != nil {
		return nil, fmt.Errorf("parsing the output (a bug in ringrpc-gen; please report it): %w", err)
	}
	skip := namesNotLocal(f)
	all := map[string]bool{}
	var clash []*ast.Ident
	ast.Inspect(f, func(n ast.Node) bool {
		id, ok := n.(*ast.Ident)
		if !ok {
			return true
		}
		all[id.Name] = true
		if skip[id] || ifaces[id.Name] { // the output names the interfaces bare
			return true
		}
		obj := self.Scope().Lookup(id.Name)
		if obj == nil {
			return true
		}
		if types.Universe.Lookup(id.Name) != nil {
			err = fmt.Errorf("%s: %s is declared here, but the generated code uses Go's predeclared %s: rename it", pos(obj.Pos()), id.Name, id.Name)
			return false
		}
		clash = append(clash, id)
		return true
	})
	if err != nil {
		return nil, err
	}
	if len(clash) > 0 {
		renamed := map[string]string{}
		for _, id := range clash {
			n, ok := renamed[id.Name]
			if !ok {
				n = id.Name + "_"
				for all[n] || self.Scope().Lookup(n) != nil {
					n += "_"
				}
				renamed[id.Name], all[n] = n, true
			}
			id.Name = n
		}
		var b bytes.Buffer
		if err := format.Node(&b, fset, f); err != nil {
			return nil, fmt.Errorf("printing the output (a bug in ringrpc-gen; please report it): %w", err)
		}
		src = b.Bytes()
	}
	src, err = format.Source(bytes.ReplaceAll(src, []byte(selfMarker+"."), nil))
	if err != nil {
		return nil, fmt.Errorf("formatting the output (a bug in ringrpc-gen; please report it): %w", err)
	}
	return src, nil
}

// namesNotLocal lists the identifiers of f that name no local: selected fields and
// methods, struct fields, interface methods, composite literal keys, and the names of
// package-level declarations. The output refers to nothing else of the package's but
// its types, which selfMarker qualifies, so the other identifiers the package
// declares too are the output's locals.
func namesNotLocal(f *ast.File) map[*ast.Ident]bool {
	skip := map[*ast.Ident]bool{f.Name: true}
	fields := func(l *ast.FieldList) {
		for _, fd := range l.List {
			for _, n := range fd.Names {
				skip[n] = true
			}
		}
	}
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.SelectorExpr:
			skip[n.Sel] = true
		case *ast.StructType:
			fields(n.Fields)
		case *ast.InterfaceType:
			fields(n.Methods)
		case *ast.KeyValueExpr:
			if id, ok := n.Key.(*ast.Ident); ok {
				skip[id] = true
			}
		case *ast.ImportSpec:
			if n.Name != nil {
				skip[n.Name] = true
			}
		}
		return true
	})
	for _, id := range topLevelIdents(f, true) {
		skip[id] = true
	}
	return skip
}
