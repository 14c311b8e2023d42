package codegen

import (
	"fmt"
	"go/token"
	"go/types"
	"maps"
	"path"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

const (
	rpcPath     = "github.com/ringrpc/ringrpc/rpc"
	contextPath = "context"
)

// imports decides the package names of the output file: each imported path gets one
// name, renamed when two paths share a name or a name is taken.
type imports struct {
	self   *types.Package
	byPath map[string]string
	taken  map[string]string // name -> path
}

func newImports(self *types.Package) *imports {
	im := &imports{self: self, byPath: map[string]string{}, taken: map[string]string{}}
	// The package's own top-level names stay visible in the output.
	for _, n := range self.Scope().Names() {
		im.taken[n] = self.Path()
	}
	im.add(contextPath, "context")
	im.add(rpcPath, "rpc")
	return im
}

// add returns the name for path, choosing one on first use.
func (im *imports) add(p, name string) string {
	if n, ok := im.byPath[p]; ok {
		return n
	}
	base := sanitize(name)
	n := base
	for i := 2; ; i++ {
		if _, used := im.taken[n]; !used && token.Lookup(n) == token.IDENT && types.Universe.Lookup(n) == nil {
			break
		}
		n = fmt.Sprintf("%s%d", base, i)
	}
	im.byPath[p], im.taken[n] = n, p
	return n
}

// sanitize returns name as an identifier: its letters, whatever their script, digits
// after the first of them, and underscores; "pkg" when none is left.
func sanitize(name string) string {
	var b strings.Builder
	for _, r := range name {
		if r == '_' || unicode.IsLetter(r) || b.Len() > 0 && unicode.IsDigit(r) {
			b.WriteRune(r)
		}
	}
	if b.Len() == 0 {
		return "pkg"
	}
	return b.String()
}

// qualifier is a types.Qualifier that registers every package it names.
func (im *imports) qualifier(p *types.Package) string {
	if p == im.self {
		return selfMarker // removed by unshadow
	}
	return im.add(p.Path(), p.Name())
}

// typeString renders t as the output file spells it.
func (im *imports) typeString(t types.Type) string {
	return types.TypeString(t, im.qualifier)
}

// clone returns a copy that names further packages without importing them into
// the output: for types spelled only inside strings.
func (im *imports) clone() *imports {
	c := &imports{self: im.self, byPath: maps.Clone(im.byPath), taken: maps.Clone(im.taken)}
	return c
}

// name returns the output's name for an imported path registered before.
func (im *imports) name(p string) string { return im.byPath[p] }

// specs returns the import lines: the standard library's, a blank line, the rest,
// each group sorted by path.
func (im *imports) specs(used map[string]bool) []string {
	var std, other []string
	for p := range im.byPath {
		switch {
		case !used[p]:
		case strings.Contains(strings.SplitN(p, "/", 2)[0], "."):
			other = append(other, p)
		default:
			std = append(std, p)
		}
	}
	sort.Strings(std)
	sort.Strings(other)
	paths := std
	if len(std) > 0 && len(other) > 0 {
		paths = append(paths, "")
	}
	paths = append(paths, other...)
	out := make([]string, 0, len(paths))
	for _, p := range paths {
		if p == "" {
			out = append(out, "")
			continue
		}
		n := im.byPath[p]
		if n == path.Base(p) {
			out = append(out, fmt.Sprintf("%q", p))
		} else {
			out = append(out, fmt.Sprintf("%s %q", n, p))
		}
	}
	return out
}

// fixed identifiers the generated methods use besides the parameters.
var reservedIdents = []string{"ctx", "x", "call", "d", "err", "args", "res", "impl", "s", "c", "f"}

// nameParams gives each parameter and result a variable name that clashes with
// nothing the generated code uses: its own name when it can.
func nameParams(m *method, im *imports) {
	used := map[string]bool{}
	for _, r := range reservedIdents {
		used[r] = true
	}
	for n := range im.taken {
		used[n] = true
	}
	for i := range m.Results {
		used[fmt.Sprintf("r%d", i)] = true
	}
	pick := func(want string) string {
		n := want
		for used[n] || token.Lookup(n) != token.IDENT {
			n += "_"
		}
		used[n] = true
		return n
	}
	for i, p := range m.Params {
		want := p.Name
		if want == "" || want == "_" {
			want = fmt.Sprintf("a%d", i)
		}
		p.Var = pick(want)
	}
	if m.In != nil {
		want := m.In.Name
		if want == "" || want == "_" {
			want = "in"
		}
		m.In.Var = pick(want)
	}
	fields := map[string]bool{}
	for i, r := range m.Results {
		r.Var = fmt.Sprintf("r%d", i)
		f := exported(r.Name)
		if f == "" || fields[f] {
			f = fmt.Sprintf("R%d", i)
		}
		fields[f] = true
		r.Field = f
	}
}

// exported returns name with its first letter in upper case, or "" when that does
// not export it: the first letter has no upper case (結果), or there is no name.
func exported(name string) string {
	if name == "" || name == "_" {
		return ""
	}
	if n := upperFirst(name); token.IsExported(n) {
		return n
	}
	return ""
}

// unexportedName returns name with its first letter in lower case, for the names the
// output keeps to its package; a first letter whose lower case still exports the
// name, or that has none (𝐀, a mathematical capital), gets an x before it.
func unexportedName(name string) string {
	r, n := utf8.DecodeRuneInString(name)
	if n == 0 {
		return name
	}
	if l := string(unicode.ToLower(r)) + name[n:]; !token.IsExported(l) {
		return l
	}
	return "x" + name
}

// upperFirst returns s with its first letter, a whole rune, in upper case; one that
// has no upper case stays as it is.
func upperFirst(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	if n == 0 {
		return s
	}
	return string(unicode.ToUpper(r)) + s[n:]
}

// serviceNames are the top-level names generated for one interface.
type serviceNames struct {
	ServiceName, Desc, Client, ClientImpl, Async, AsyncClient, AsyncImpl, Register string
}

// serviceNameSuffix makes the name of the constant holding an interface's service
// name, by which a file ringrpc-gen wrote says whose code it holds.
const serviceNameSuffix = "ServiceName"

func namesFor(iface string) serviceNames {
	lower := unexportedName(iface)
	return serviceNames{
		ServiceName: iface + serviceNameSuffix,
		Desc:        iface + "ServiceDesc",
		Client:      "New" + iface + "Client",
		ClientImpl:  lower + "Client",
		Async:       iface + "Async",
		AsyncClient: "New" + iface + "AsyncClient",
		AsyncImpl:   lower + "AsyncClient",
		Register:    "Register" + iface + "Server",
	}
}

// resultsType names the struct an async call of a several-result method yields.
func resultsType(iface string, m *method) string { return iface + m.Name + "Results" }

// all lists the names, for clash checks.
func (n serviceNames) all() []string {
	return []string{n.ServiceName, n.Desc, n.Client, n.ClientImpl, n.Async, n.AsyncClient, n.AsyncImpl, n.Register}
}
