package codegen

import (
	"errors"
	"fmt"
	"go/token"
	"go/types"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// File is one generated file.
type File struct {
	Path    string
	Content []byte
}

// Generate loads the package in cfg.Dir and generates code for cfg.Types. Each
// interface's code goes to <file>_ringrpc.go beside the file that declares it. Nothing
// is written: on any error no file is returned.
func Generate(cfg Config) ([]File, error) {
	if len(cfg.Types) == 0 {
		return nil, fmt.Errorf("no interface named: pass -type Iface[,Iface...]")
	}
	l, err := load(cfg)
	if err != nil {
		return nil, err
	}
	byFile := map[string][]*service{}
	var order []string
	var errs []error // every interface's problems, reported at once
	for _, name := range cfg.Types {
		svc, err := l.buildService(name)
		if err == nil {
			err = l.checkNames(svc)
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out := l.outputOf(svc.named.Obj().Pos())
		if _, ok := byFile[out]; !ok {
			order = append(order, out)
		}
		byFile[out] = append(byFile[out], svc)
	}
	named := map[string]bool{} // the interfaces this run generates
	for _, t := range cfg.Types {
		named[t] = true
	}
	for _, out := range order {
		if err := l.checkDropped(out, byFile[out], named); err != nil {
			errs = append(errs, err)
		}
	}
	// Two interfaces of a package may ask for one name: A's method BX and AB's X
	// both have results ABXResults.
	owner := map[string]*service{}
	for _, out := range order {
		for _, svc := range byFile[out] {
			for _, name := range generatedNames(svc) {
				if o, ok := owner[name]; ok && o != svc {
					errs = append(errs, fmt.Errorf("%s: ringrpc-gen generates %s for interface %s, and for interface %s too: rename a method of one of them",
						l.pos(svc.named.Obj().Pos()), name, o.Iface, svc.Iface))
				}
				owner[name] = svc
			}
		}
	}
	errs = append(errs, l.checkEarlierOutputs(order, owner, named)...)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	var files []File
	for _, out := range order {
		im := newImports(l.pkg.Types)
		cs := planCodecs(l.pkg.Types, byFile[out], cfg.NoCodecs)
		// Import names first, so that no parameter is named like a package it needs.
		for _, svc := range byFile[out] {
			for _, m := range svc.Methods {
				for _, p := range m.Params {
					im.typeString(p.Type)
				}
				for _, r := range m.Results {
					im.typeString(r.Type)
				}
				for _, t := range m.streamTypes() {
					im.add("iter", "iter")
					im.typeString(t)
				}
			}
		}
		// A dry run of the codecs names the packages they spell.
		(&emitter{im: im, used: map[string]bool{}, cs: cs}).codecFuncs(cs)
		for _, svc := range byFile[out] {
			for _, m := range svc.Methods {
				nameParams(m, im)
			}
		}
		src, err := emitFile(l.pkg.Name, im, byFile[out], cs)
		if err == nil {
			ifaces := map[string]bool{}
			for _, svc := range byFile[out] {
				ifaces[svc.Iface] = true
			}
			src, err = unshadow(src, l.pkg.Types, ifaces, l.pos)
		}
		if err != nil {
			return nil, err
		}
		files = append(files, File{Path: out, Content: src})
	}
	return files, nil
}

// Write generates and writes the files; it writes none when any fails.
func Write(cfg Config) ([]string, error) {
	files, err := Generate(cfg)
	if err != nil {
		return nil, err
	}
	var paths []string
	for _, f := range files {
		if err := os.WriteFile(f.Path, f.Content, 0o644); err != nil {
			return paths, fmt.Errorf("writing %s: %w", f.Path, err)
		}
		paths = append(paths, f.Path)
	}
	return paths, nil
}

// outputOf is the file ringrpc-gen writes the code of an interface declared at pos to.
func (l *loaded) outputOf(pos token.Pos) string {
	return strings.TrimSuffix(l.fset.Position(pos).Filename, ".go") + "_ringrpc.go"
}

// isGenerated reports whether pos is in a file ringrpc-gen wrote earlier.
func (l *loaded) isGenerated(pos token.Pos) bool {
	_, ok := l.generated[filepath.Base(l.fset.Position(pos).Filename)]
	return ok
}

// checkDropped fails when out, written earlier, holds the code of an interface that
// is declared in the same file but that this run does not generate: writing out would
// drop it, as with one //go:generate line per interface of a file. An interface
// -type names counts as generated, even one whose problems this run reports.
func (l *loaded) checkDropped(out string, svcs []*service, named map[string]bool) error {
	var names []string
	for _, svc := range svcs {
		names = append(names, svc.Iface)
	}
	var dropped []string
	for _, iface := range l.generated[filepath.Base(out)] {
		obj, ok := l.pkg.Types.Scope().Lookup(iface).(*types.TypeName)
		if named[iface] || !ok || !types.IsInterface(obj.Type()) || l.outputOf(obj.Pos()) != out {
			continue // generated now, or gone from the file: its code is rightly dropped
		}
		dropped = append(dropped, iface)
	}
	if len(dropped) == 0 {
		return nil
	}
	src := filepath.Base(l.fset.Position(svcs[0].named.Obj().Pos()).Filename)
	return fmt.Errorf("%s holds the code generated for %s too, which %s declares beside %s: the interfaces of one file share its output, and this run would drop that code; "+
		"generate them together, with -type %s on one //go:generate line, or delete %s first if that code should go",
		filepath.Base(out), strings.Join(dropped, ", "), src, strings.Join(names, ", "), strings.Join(append(names, dropped...), ","), filepath.Base(out))
}

// checkNames fails when a name the output declares is taken by the package's own
// code (not by an earlier output of ringrpc-gen).
func (l *loaded) checkNames(svc *service) error {
	for _, name := range generatedNames(svc) {
		obj := l.pkg.Types.Scope().Lookup(name)
		if obj == nil || l.isGenerated(obj.Pos()) {
			continue
		}
		return fmt.Errorf("%s: %s is declared here, but ringrpc-gen generates %s for interface %s: rename one of them", l.pos(obj.Pos()), name, name, svc.Iface)
	}
	return nil
}

// checkEarlierOutputs fails where an earlier output that this run leaves alone holds
// the code of an interface that generates a name this run generates too: A's method
// BX and AB's X both give ABXResults, with A and AB in files of their own and one
// //go:generate line each. Such an output is read anew from its interface, not from
// its text, as that may be stale and about to be regenerated.
func (l *loaded) checkEarlierOutputs(outputs []string, owner map[string]*service, named map[string]bool) []error {
	rewritten := map[string]bool{}
	for _, out := range outputs {
		rewritten[filepath.Base(out)] = true
	}
	var errs []error
	for _, file := range slices.Sorted(maps.Keys(l.generated)) {
		if rewritten[file] {
			continue
		}
		for _, iface := range l.generated[file] {
			obj, ok := l.pkg.Types.Scope().Lookup(iface).(*types.TypeName)
			if named[iface] || !ok || !types.IsInterface(obj.Type()) || filepath.Base(l.outputOf(obj.Pos())) != file {
				continue // generated now, gone, or moved: its earlier code will go
			}
			other, err := l.buildService(iface)
			if err != nil {
				continue // its own run reports it
			}
			for _, name := range generatedNames(other) {
				if svc, ok := owner[name]; ok {
					errs = append(errs, fmt.Errorf("%s: ringrpc-gen generates %s for interface %s, and generated it for interface %s in %s too: rename a method of one of them",
						l.pos(svc.named.Obj().Pos()), name, svc.Iface, iface, file))
				}
			}
		}
	}
	return errs
}

// generatedNames lists the top-level names the output declares for svc.
func generatedNames(svc *service) []string {
	names := namesFor(svc.Iface).all()
	for _, m := range svc.Methods {
		if len(m.Results) > 1 && !m.streams() {
			names = append(names, resultsType(svc.Iface, m))
		}
	}
	return names
}

// planCodecs picks the generated codec of every parameter and result that has one,
// and plans the functions they call.
func planCodecs(self *types.Package, services []*service, off bool) *codecs {
	cs := newCodecs(self, services[0].Iface, off)
	use := func(t types.Type, c *codec) {
		if *c == codecValue && cs.shapeOf(t) == shapeFunc {
			*c = codecGen
			cs.funcOf(t)
		}
	}
	for _, svc := range services {
		for _, m := range svc.Methods {
			for _, p := range m.Params {
				use(p.Type, &p.Codec)
			}
			for _, r := range m.Results {
				use(r.Type, &r.Codec)
			}
			if m.In != nil {
				use(m.In.Type, &m.In.Codec)
			}
			if m.Out != nil {
				use(m.Out.Type, &m.Out.Codec)
			}
		}
	}
	return cs
}
