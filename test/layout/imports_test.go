package layout

import (
	"fmt"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const module = "skiff"

// components are the parts of skiff that talk to each other only through
// the API server (or, for storage, only to the API server). Every
// controller is a component of its own: controller/<name>.
var components = []string{"apiserver", "storage", "scheduler", "agent", "proxy", "dns"}

// controllerLibraries are the packages under controller/ that are not
// controllers: what every controller builds on.
var controllerLibraries = []string{"reconcile", "manager"}

// assemblers wire components together: `skiff` itself, the control plane
// and the node. They may import any component.
var assemblers = []string{"cmd", "internal/server", "internal/node"}

// implementations are, by parent, the children that implement an
// interface the parent defines; a parent never imports them (cmd/skiff,
// server and node wire them).
var implementations = map[string][]string{
	"internal/agent": {"internal/agent/cri", "internal/agent/sim", "internal/agent/csi"},
	"internal/proxy": {"internal/proxy/nftables"},
}

// component names the component a package (a path relative to the module)
// belongs to, or "" for a library.
func component(pkg string) string {
	rest, ok := strings.CutPrefix(pkg, "internal/")
	if !ok {
		return ""
	}
	parts := strings.Split(rest, "/")
	if parts[0] == "controller" {
		if len(parts) < 2 || slices.Contains(controllerLibraries, parts[1]) {
			return ""
		}
		return "controller/" + parts[1]
	}
	if slices.Contains(components, parts[0]) {
		return parts[0]
	}
	return ""
}

// testSupport says whether pkg is a test harness or double, named
// <something>test as STYLE.md has it (servertest, storagetest, runtimetest).
func testSupport(pkg string) bool { return strings.HasSuffix(filepath.Base(pkg), "test") }

func within(pkg, dir string) bool { return pkg == dir || strings.HasPrefix(pkg, dir+"/") }

// check returns why from may not import to (both relative to the module),
// or nil. test says the import is in a _test.go file.
func check(from, to string, test bool) error {
	if within(to, "internal/server") && !within(from, "cmd") && !within(from, "internal/server") && !test && !testSupport(from) {
		return fmt.Errorf("only cmd/ and tests may import internal/server")
	}
	for _, impl := range implementations[from] {
		if within(to, impl) {
			return fmt.Errorf("%s defines the interface %s implements: it never imports it", from, to)
		}
	}
	if slices.ContainsFunc(assemblers, func(a string) bool { return within(from, a) }) {
		return nil
	}
	cf, ct := component(from), component(to)
	if ct == "storage" && cf != "storage" && cf != "apiserver" {
		return fmt.Errorf("only the API server imports storage")
	}
	if within(from, "internal/scheduler/plugins") && within(to, "internal/scheduler") &&
		to != "internal/scheduler/framework" && !within(to, pluginDir(from)) {
		return fmt.Errorf("a scheduler plugin imports only scheduler/framework")
	}
	if cf != "" && ct != "" && cf != ct && !(cf == "apiserver" && ct == "storage") {
		if strings.HasPrefix(cf, "controller/") && strings.HasPrefix(ct, "controller/") {
			return fmt.Errorf("a controller never imports another controller")
		}
		return fmt.Errorf("components never import each other (%s imports %s)", cf, ct)
	}
	return nil
}

// pluginDir is the folder of the scheduler plugin pkg is in.
func pluginDir(pkg string) string {
	parts := strings.Split(pkg, "/")
	return strings.Join(parts[:min(len(parts), 4)], "/")
}

// imp is one import of one file.
type imp struct {
	file, from, to string
	test           bool
}

// imports reads the skiff imports of every Go file of the module rooted
// at root, skipping nested modules and testdata.
func imports(t *testing.T, root string) []imp {
	t.Helper()
	var out []imp
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			name := d.Name()
			if path != root && (name == "testdata" || name == "vendor" || strings.HasPrefix(name, ".") || fileExists(filepath.Join(path, "go.mod"))) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, filepath.Dir(path))
		for _, s := range f.Imports {
			p, _ := strconv.Unquote(s.Path.Value)
			to, ok := strings.CutPrefix(p, module+"/")
			if !ok {
				continue
			}
			out = append(out, imp{file: path, from: filepath.ToSlash(rel), to: to, test: strings.HasSuffix(path, "_test.go")})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// TestImportRules fails on every import of the module that breaks a rule.
func TestImportRules(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if !fileExists(filepath.Join(root, "go.mod")) {
		t.Fatalf("%s is not the module root", root)
	}
	all := imports(t, root)
	if len(all) < 100 {
		t.Fatalf("read only %d imports under %s: the walk is broken", len(all), root)
	}
	for _, i := range all {
		if err := check(i.from, i.to, i.test); err != nil {
			rel, _ := filepath.Rel(root, i.file)
			t.Errorf("%s imports %s: %v", rel, module+"/"+i.to, err)
		}
	}
}

// TestCheck pins the rules down on examples, so that a broken rule does
// not silently let everything pass.
func TestCheck(t *testing.T) {
	tests := []struct {
		from, to string
		test     bool
		ok       bool
	}{
		{"internal/apiserver", "internal/storage", false, true},
		{"internal/apiserver/watchcache", "internal/storage", false, true},
		{"internal/scheduler", "internal/storage", false, false},
		{"internal/etcd", "internal/storage/etcd", false, false},
		{"internal/server", "internal/storage/etcd", false, true},
		{"internal/dns", "internal/proxy", false, false},
		{"internal/agent", "internal/apiserver", false, false},
		{"internal/controller/deployment", "internal/controller/replicaset", false, false},
		{"internal/controller/deployment", "internal/controller/reconcile", false, true},
		{"internal/controller/deployment", "internal/controller", false, true},
		{"internal/scheduler/plugins/nodeports", "internal/scheduler/framework", false, true},
		{"internal/scheduler/plugins/nodeports", "internal/scheduler/cache", false, false},
		{"internal/scheduler/plugins/nodeports", "internal/scheduler/plugins/nodename", false, false},
		{"internal/scheduler", "internal/scheduler/plugins/nodeports", false, true},
		{"internal/agent", "internal/agent/cri", false, false},
		{"internal/agent", "internal/agent/sim", true, false},
		{"internal/agent/cri", "internal/agent", false, true},
		{"internal/proxy", "internal/proxy/proxytest", true, true},
		{"internal/server/servertest", "internal/server", false, true},
		{"internal/agent/integration", "internal/agent/sim", true, true},
		{"internal/proxy", "internal/proxy/nftables", false, false},
		{"internal/node", "internal/proxy/nftables", false, true},
		{"internal/node", "internal/server", false, false},
		{"internal/proxy", "internal/server", true, true},
		{"internal/server/servertest", "internal/server", false, true},
		{"cmd/skiff", "internal/server", false, true},
		{"internal/agent", "internal/pki", false, true},
	}
	for _, tt := range tests {
		err := check(tt.from, tt.to, tt.test)
		if (err == nil) != tt.ok {
			t.Errorf("check(%s imports %s, test %v) = %v; want allowed %v", tt.from, tt.to, tt.test, err, tt.ok)
		}
	}
}
