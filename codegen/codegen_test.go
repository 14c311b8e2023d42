package codegen

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// goldenCases are the packages under testdata whose generated files are golden.
var goldenCases = []string{"basic", "shapes", "embedded", "clash", "directives", "describe", "streams", "shadow"}

func readTypes(t *testing.T, dir string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "types.txt"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(string(b)), ",")
}

func TestGolden(t *testing.T) {
	for _, name := range goldenCases {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join("testdata", name)
			files, err := Generate(Config{Dir: dir, Types: readTypes(t, dir)})
			if err != nil {
				t.Fatal(err)
			}
			if len(files) == 0 {
				t.Fatal("no file generated")
			}
			for _, f := range files {
				if *update {
					if err := os.WriteFile(f.Path, f.Content, 0o644); err != nil {
						t.Fatal(err)
					}
					continue
				}
				want, err := os.ReadFile(f.Path)
				if err != nil {
					t.Fatalf("%v (run go test ./codegen -update to create it)", err)
				}
				if !bytes.Equal(f.Content, want) {
					t.Errorf("%s differs from the generator's output; run go test ./codegen -update and review the diff", f.Path)
				}
			}
		})
	}
}

// TestGoldenCompiles type-checks every golden package with its generated file.
func TestGoldenCompiles(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go vet")
	}
	args := []string{"vet"}
	for _, name := range goldenCases {
		args = append(args, "./testdata/"+name+"/...")
	}
	out, err := exec.Command("go", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("go vet on the generated code: %v\n%s", err, out)
	}
}

func TestDeterministic(t *testing.T) {
	dir := filepath.Join("testdata", "shapes")
	a, err := Generate(Config{Dir: dir, Types: readTypes(t, dir)})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Generate(Config{Dir: dir, Types: readTypes(t, dir)})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a[0].Content, b[0].Content) {
		t.Fatal("two runs generated different code")
	}
}

func TestErrors(t *testing.T) {
	dirs, err := filepath.Glob(filepath.Join("testdata", "errors", "*"))
	if err != nil || len(dirs) == 0 {
		t.Fatal("no error cases", err)
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			want, err := os.ReadFile(filepath.Join(dir, "want.txt"))
			if err != nil {
				t.Fatal(err)
			}
			files, err := Generate(Config{Dir: dir, Types: readTypes(t, dir)})
			if err == nil {
				t.Fatalf("generated %d files, want an error", len(files))
			}
			if files != nil {
				t.Fatal("files returned with an error")
			}
			// Every line of want.txt is in the error: all errors are reported at once.
			for _, line := range strings.Split(strings.TrimSpace(string(want)), "\n") {
				if !strings.Contains(err.Error(), line) {
					t.Fatalf("error %q\ndoes not say %q", err, line)
				}
			}
			if base := filepath.Base(dir); base != "notype" && !strings.Contains(err.Error(), "input.go:") {
				t.Fatalf("error %q has no file:line", err)
			}
			if matches, _ := filepath.Glob(filepath.Join(dir, "*_ringrpc.go")); len(matches) > 0 {
				t.Fatalf("wrote %v despite the error", matches)
			}
		})
	}
	if _, err := Generate(Config{Dir: "testdata/basic"}); err == nil || !strings.Contains(err.Error(), "-type") {
		t.Fatalf("no types: %v", err)
	}
}

// TestNoCodecs: with the codecs turned off, structs and containers go through
// go-json and no codec function is written.
func TestNoCodecs(t *testing.T) {
	dir := filepath.Join("testdata", "shapes")
	files, err := Generate(Config{Dir: dir, Types: readTypes(t, dir), NoCodecs: true})
	if err != nil {
		t.Fatal(err)
	}
	src := string(files[0].Content)
	if strings.Contains(src, "JSONWriter") || strings.Contains(src, ".JSON()") {
		t.Fatal("codec functions written with NoCodecs")
	}
	if !strings.Contains(src, "args.Value(&ps)") {
		t.Fatal("a []Point parameter does not go through Value")
	}
	on, err := Generate(Config{Dir: dir, Types: readTypes(t, dir)})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(on[0].Content), "shapesDecodeSlicePoint(args.JSON(), &ps)") {
		t.Fatal("a []Point parameter has no generated codec")
	}
}

// An interface that uses a type only an earlier output declares, in a field or as a
// parameter, is refused with what to do: the type is not there while the package
// loads.
func TestInterfaceUsingAGeneratedType(t *testing.T) {
	_, err := Generate(Config{Dir: filepath.Join("testdata", "usesgenerated"), Types: []string{"A"}})
	for _, want := range []string{"a.go:13", "a.go:14", "only a file ringrpc-gen wrote declares"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v\nwant it to say %q", err, want)
		}
	}
}

// With one //go:generate line per file, each interface in a file of its own, and code
// that uses both clients, the run for either interface succeeds: the other's earlier
// output is emptied too while the package loads, and uses of the names it declared
// are forgiven.
func TestRegenerateOneOfTwo(t *testing.T) {
	dir := filepath.Join("testdata", "twotypes")
	for _, typ := range []string{"A", "B"} {
		if _, err := Generate(Config{Dir: dir, Types: []string{typ}}); err != nil {
			t.Errorf("the run for %s alone fails: %v", typ, err)
		}
	}
}

// A package whose cgo preamble does not compile is refused with what the C compiler
// said, not only with the type checker's "could not import C".
func TestCgoPreambleErrorIsShown(t *testing.T) {
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skip("no gcc: cgo does not run here")
	}
	if out, err := exec.Command("go", "env", "CGO_ENABLED").Output(); err != nil || strings.TrimSpace(string(out)) != "1" {
		t.Skip("cgo is off")
	}
	dir := t.TempDir()
	files := map[string]string{
		"go.mod": "module example.com/cg\n\ngo 1.26\n",
		"cg.go": "package cg\n\n// int add(int a, int b) { return a + b }\nimport \"C\"\n\nimport \"context\"\n\n" +
			"type Svc interface {\n\tGet(ctx context.Context, id string) (string, error)\n}\n",
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	_, err := Generate(Config{Dir: dir, Types: []string{"Svc"}})
	if err == nil || !strings.Contains(err.Error(), "cg.go:3:") || !strings.Contains(err.Error(), "error:") {
		t.Fatalf("error %v\nwant the C compiler's, at cg.go:3", err)
	}
}

// writeModule writes files into a new module in a temporary directory.
func writeModule(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	files["go.mod"] = "module example.com/two\n\ngo 1.26\n"
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// Two interfaces of one file share its output: a run for one of them alone, as one
// //go:generate line per interface would make, is refused with what to do instead of
// dropping the other's code, which stays as it was.
func TestOneOutputPerFile(t *testing.T) {
	const hello = "type Hello interface {\n\tHi(ctx context.Context, a string) error\n}\n"
	const world = "type World interface {\n\tWo(ctx context.Context, a string) error\n}\n"
	dir := writeModule(t, map[string]string{"two.go": "package two\n\nimport \"context\"\n\n" + hello + world})
	out := filepath.Join(dir, "two_ringrpc.go")
	run := func(types ...string) error {
		_, err := Write(Config{Dir: dir, Types: types})
		return err
	}
	has := func(names ...string) {
		t.Helper()
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range names {
			if !strings.Contains(string(b), "func New"+name+"Client(") {
				t.Errorf("two_ringrpc.go lacks %s's client", name)
			}
		}
	}
	if err := run("Hello"); err != nil {
		t.Fatal(err)
	}
	err := run("World")
	for _, want := range []string{"two_ringrpc.go holds the code generated for Hello", "-type World,Hello"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("-type World after -type Hello: %v\nwant it to say %q", err, want)
		}
	}
	has("Hello")
	if err := run("Hello", "World"); err != nil {
		t.Fatal(err)
	}
	has("Hello", "World")
	if err := run("Hello"); err == nil || !strings.Contains(err.Error(), "-type Hello,World") {
		t.Fatalf("-type Hello after -type Hello,World: %v", err)
	}
	has("Hello", "World")
	// An interface gone from the file takes its code with it.
	if err := os.WriteFile(filepath.Join(dir, "two.go"), []byte("package two\n\nimport \"context\"\n\n"+hello), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := run("Hello"); err != nil {
		t.Fatalf("-type Hello once World is gone: %v", err)
	}
}

// Interfaces in files of their own, generated by a //go:generate line each, may ask
// for one name: A's method BX and AB's X both have results ABXResults. The second run
// is refused, where it wrote a second declaration and the package did not compile;
// an earlier output that is stale does not count.
func TestResultsNameTakenByAnEarlierRun(t *testing.T) {
	const a = "package two\n\nimport \"context\"\n\ntype A interface {\n\tBX(ctx context.Context) (int, string, error)\n}\n"
	const ab = "package two\n\nimport \"context\"\n\ntype AB interface {\n\tX(ctx context.Context) (int, string, error)\n}\n"
	dir := writeModule(t, map[string]string{"a.go": a, "ab.go": ab})
	if _, err := Write(Config{Dir: dir, Types: []string{"A"}}); err != nil {
		t.Fatal(err)
	}
	_, err := Write(Config{Dir: dir, Types: []string{"AB"}})
	for _, want := range []string{"ab.go:5: ringrpc-gen generates ABXResults for interface AB, and generated it for interface A in a_ringrpc.go too", "rename a method"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("-type AB after -type A: %v\nwant it to say %q", err, want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "ab_ringrpc.go")); !os.IsNotExist(err) {
		t.Fatalf("ab_ringrpc.go written despite the error: %v", err)
	}
	// Once A's method is renamed, its output is stale until its own line runs again:
	// AB's run goes first and must not be refused for it.
	if err := os.WriteFile(filepath.Join(dir, "a.go"), []byte(strings.Replace(a, "BX(", "BY(", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Write(Config{Dir: dir, Types: []string{"AB"}}); err != nil {
		t.Fatalf("-type AB once A's method is renamed: %v", err)
	}
	if _, err := Write(Config{Dir: dir, Types: []string{"A"}}); err != nil {
		t.Fatal(err)
	}
}

// A run that names every interface of a file, one of which has a problem, reports
// that problem only: it does not also say the run leaves that interface out and
// would drop its code, nor tell the user to pass the -type list they passed.
func TestNoDropReportedForAFailingInterface(t *testing.T) {
	const hello = "type Hello interface {\n\tHi(ctx context.Context, a string) error\n}\n"
	const world = "type World interface {\n\tWo(ctx context.Context, a string) error\n}\n"
	const badHello = "type Hello interface {\n\tHi(ctx context.Context, a chan int) error\n}\n"
	for _, tc := range []struct{ name, second string }{
		{"bad parameter", badHello},
		{"name taken", hello + "type HelloAsync int\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeModule(t, map[string]string{"two.go": "package two\n\nimport \"context\"\n\n" + hello + world})
			if _, err := Write(Config{Dir: dir, Types: []string{"Hello", "World"}}); err != nil {
				t.Fatal(err)
			}
			src := "package two\n\nimport \"context\"\n\n" + tc.second + world
			if err := os.WriteFile(filepath.Join(dir, "two.go"), []byte(src), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := Write(Config{Dir: dir, Types: []string{"Hello", "World"}})
			if err == nil {
				t.Fatal("no error")
			}
			if strings.Contains(err.Error(), "holds the code generated for") {
				t.Errorf("-type Hello,World, with Hello in error, also says the run leaves Hello out:\n%v", err)
			}
		})
	}
}

// buildGenerated generates iface in dir and builds the package with the output laid
// over it, without writing into the tree; it returns the output.
func buildGenerated(t *testing.T, dir, iface string) string {
	t.Helper()
	files, err := Generate(Config{Dir: dir, Types: []string{iface}})
	if err != nil {
		first, _, _ := strings.Cut(err.Error(), "\n")
		t.Fatalf("-type %s: %s", iface, first)
	}
	tmp := t.TempDir()
	replace := map[string]string{}
	var src strings.Builder
	for _, f := range files {
		p := filepath.Join(tmp, filepath.Base(f.Path))
		if err := os.WriteFile(p, f.Content, 0o644); err != nil {
			t.Fatal(err)
		}
		abs, err := filepath.Abs(f.Path)
		if err != nil {
			t.Fatal(err)
		}
		replace[abs] = p
		src.Write(f.Content)
	}
	overlay, err := json.Marshal(map[string]any{"Replace": replace})
	if err != nil {
		t.Fatal(err)
	}
	op := filepath.Join(tmp, "overlay.json")
	if err := os.WriteFile(op, overlay, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("go", "build", "-overlay", op, "./"+filepath.ToSlash(dir)).CombinedOutput()
	if err != nil {
		t.Fatalf("the code generated for %s does not compile: %v\n%s", iface, err, out)
	}
	return src.String()
}

// A type of another package whose codec would have to spell a type the output
// cannot name (unexported there, or in an internal package the output's package may
// not import) goes through go-json, in a slice, an array, a pointer, a map, a named
// slice or an embedded pointer: the output compiles. What the output can name keeps
// its generated codec.
func TestUnnameableTypesGoThroughGoJSON(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go build")
	}
	dir := filepath.Join("testdata", "unnameable")
	for _, tc := range []struct {
		iface     string
		generated []string // codecs the output keeps
	}{
		{"Fields", []string{"fieldsEncodeOtherOuter(", "fieldsEncodeSliceOtherPair("}},
		{"Named", nil},
		{"Internal", []string{"internalEncodeOtherPub(", "internalEncodeSliceOwnT("}},
	} {
		t.Run(tc.iface, func(t *testing.T) {
			src := buildGenerated(t, dir, tc.iface)
			for _, want := range tc.generated {
				if !strings.Contains(src, "func "+want) {
					t.Errorf("the output has no %s...): a type it can name lost its codec", want)
				}
			}
			code := regexp.MustCompile(`"[^"\n]*"`).ReplaceAllString(src, `""`) // the descriptor names them in strings
			for _, unnamed := range []string{"other.inner", "other.key", "z.T", "z.E", "OtherWrap"} {
				if strings.Contains(code, unnamed) {
					t.Errorf("the output spells %s", unnamed)
				}
			}
		})
	}
}

// Go identifiers may start with any Unicode letter: the generator changes the case
// of a first letter beyond ASCII whole, for the names it derives from an interface
// (Überweisung), a type (ärger) or a named result (ölstand). A letter without the
// case a name needs keeps the name apart from the package's API: a result named
// 結果 takes the field R<i> of the async results, and the unexported names of 𝐀pi,
// whose capital has no lower case, start with an x.
func TestNonASCIINames(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go build")
	}
	dir := filepath.Join("testdata", "nonascii")
	for _, tc := range []struct {
		iface string
		want  []string
	}{
		{"Überweisung", []string{"func NewÜberweisungClient(", "type überweisungClient struct", "func überweisungEncodeZahlung("}},
		{"Pay", []string{"func payEncodeÄrger(", "Ölstand int\n", "Äpfel   []int\n", "R2      string\n"}},
		{"支付", []string{"func New支付Client(", "type 支付Client struct", "func 支付EncodeZahlung(", "R0 string\n", "R1 int\n"}},
		{"𝐀pi", []string{"func New𝐀piClient(", "type x𝐀piClient struct", "func x𝐀piEncodeZahlung("}},
	} {
		t.Run(tc.iface, func(t *testing.T) {
			src := buildGenerated(t, dir, tc.iface)
			for _, want := range tc.want {
				if !strings.Contains(src, want) {
					t.Errorf("the output does not say %q", want)
				}
			}
		})
	}
}

// Every rejection says what is wrong and, after a semicolon, what to do about it,
// and names types as the source does (K, image.Point, not their import paths).
func TestRejectionsSayWhatToDo(t *testing.T) {
	dir := filepath.Join("testdata", "rejections")
	for _, tc := range []struct{ iface, says, advice string }{
		{"Empty", "interface Empty has no methods", "; add the methods"},
		{"Gud", "-type Gud: no such type in package", "; the interfaces it declares: Bad, Empty, Good"},
		{"Bad", "method StructKey: parameter m: map keys of type K have", "; use strings, integers, or a type with MarshalText and UnmarshalText"},
		{"Bad", "method OtherKey: parameter m: map keys of type image.Point have", "; use strings"},
		{"Bad", "method TwoErr: only the last result may be an error", "; return one error, last"},
		{"Bad", "method Func: parameter f: functions cannot travel between processes", "; send data the provider acts on"},
		{"Bad", "method JSONKey: parameter m: map keys of type JK have", "; use strings, integers, or a type with MarshalText and UnmarshalText"},
		{"Bad", "method HalfTextKey: parameter m: map keys of type MK have", "; use strings, integers, or a type with MarshalText and UnmarshalText"},
	} {
		_, err := Generate(Config{Dir: dir, Types: []string{tc.iface}})
		if err == nil {
			t.Fatalf("-type %s generated", tc.iface)
		}
		var line string
		for _, l := range strings.Split(err.Error(), "\n") {
			if strings.Contains(l, strings.SplitN(tc.says, ":", 2)[0]) {
				line = l
			}
		}
		if !strings.Contains(line, tc.says) {
			t.Errorf("-type %s: the error does not say %q:\n%s", tc.iface, tc.says, err)
			continue
		}
		if _, after, _ := strings.Cut(line, tc.says); !strings.Contains(after, tc.advice) {
			t.Errorf("-type %s: %q does not say what to do: %q", tc.iface, line, tc.advice)
		}
	}
	// Keys with MarshalText and UnmarshalText, and string kinds whatever their
	// methods, are keys encoding/json reads and writes.
	if _, err := Generate(Config{Dir: dir, Types: []string{"Good"}}); err != nil {
		t.Errorf("-type Good: %v", err)
	}
}

// An import's name in the output is the package's own where it is an identifier:
// its letters, whatever their script, stay.
func TestImportNamesKeepLetters(t *testing.T) {
	for _, tc := range []struct{ name, want string }{
		{"überweisung", "überweisung"},
		{"支付", "支付"},
		{"ölstand2", "ölstand2"},
		{"v2_api", "v2_api"},
		{"go-json", "gojson"},
		{"2fa", "fa"},
		{"", "pkg"},
	} {
		if got := sanitize(tc.name); got != tc.want {
			t.Errorf("sanitize(%q) = %q, want %q", tc.name, got, tc.want)
		}
	}
}

// An interface's problems are reported in the order of the source, one per line.
func TestRejectionsInSourceOrder(t *testing.T) {
	_, err := Generate(Config{Dir: filepath.Join("testdata", "rejections"), Types: []string{"Bad"}})
	if err == nil {
		t.Fatal("-type Bad generated")
	}
	line := regexp.MustCompile(`\.go:(\d+):`)
	var lines []int
	for _, l := range strings.Split(err.Error(), "\n") {
		if m := line.FindStringSubmatch(l); m != nil {
			n, _ := strconv.Atoi(m[1])
			lines = append(lines, n)
		}
	}
	if len(lines) < 3 || !slices.IsSorted(lines) {
		t.Fatalf("problems at lines %v, want three or more in the order of the source:\n%v", lines, err)
	}
}

// A -dir that is not a directory is named as such, where the go command run in it
// failed as if the go command itself were missing.
func TestDirNotADirectory(t *testing.T) {
	for _, dir := range []string{filepath.Join(t.TempDir(), "missing"), filepath.Join("testdata", "basic", "hello.go")} {
		_, err := Generate(Config{Dir: dir, Types: []string{"Hello"}})
		if err == nil || strings.Contains(err.Error(), "fork/exec") || !strings.Contains(err.Error(), dir) {
			t.Errorf("-dir %s: %v", dir, err)
		}
		if err != nil && !strings.Contains(err.Error(), "no such file or directory") && !strings.Contains(err.Error(), "not a directory") {
			t.Errorf("-dir %s: %v does not say what is wrong with it", dir, err)
		}
	}
}
