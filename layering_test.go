// The repository's shape, checked: which way imports point, and that
// nothing that ships imports a test world. The rules are written out in
// docs/CONTRIBUTING.md.
package lnplaylive_test

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/lnplaylive/lnplaylive/"

// layers, lowest first. A package imports packages of lower layers, or of
// its own layer where that layer allows it. Every package that ships is in
// exactly one layer: a new package is placed here, on purpose.
var layers = []struct {
	name     string
	packages []string // exact paths, or prefixes ending in "/"
	// sideways: packages of this layer may import each other.
	sideways bool
}{
	{"the domain and its plumbing", []string{"order", "codec", "handout", "metrics", "plugin/cln",
		"infra", "infra/hostkey", "infra/shell", "infra/sshx",
		"internal/jsonframe", "internal/proc", "internal/debugserver", "internal/temporalconn"}, true},
	{"the outside world", []string{"infra/playground", "infra/hetzner", "infra/hostpool", "infra/wsproxy"}, true},
	{"activities", []string{"activities"}, false},
	{"workflows", []string{"workflows"}, false},
	{"clients of the workflows", []string{"capacity", "ops", "internal/stack"}, true},
	{"services", []string{"plugin", "worker", "storefront"}, false},
	{"commands", []string{"cmd/"}, true},
}

// testWorlds holds the stand-ins, doubles and harnesses tests run
// against. They may import anything; nothing that ships imports them.
const testWorlds = "internal/testworld/"

func layerOf(pkg string) int {
	for i, l := range layers {
		for _, p := range l.packages {
			if pkg == p || strings.HasSuffix(p, "/") && strings.HasPrefix(pkg, p) {
				return i
			}
		}
	}
	return -1
}

func TestImportsPointDownAndNothingThatShipsImportsATestWorld(t *testing.T) {
	// Imports, not TestImports: what a package's shipped files import.
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Imports " "}}`, "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	checked := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg := strings.TrimPrefix(fields[0], module)
		if strings.HasPrefix(pkg, testWorlds) || pkg == "e2e" || fields[0]+"/" == module {
			continue // test worlds, and packages of tests alone
		}
		from := layerOf(pkg)
		if from < 0 {
			t.Errorf("%s is in no layer: place it in layering_test.go (and docs/CONTRIBUTING.md)", pkg)
			continue
		}
		checked++
		for _, imp := range fields[1:] {
			if !strings.HasPrefix(imp, module) {
				continue
			}
			dep := strings.TrimPrefix(imp, module)
			if strings.HasPrefix(dep, testWorlds) {
				t.Errorf("%s imports the test world %s: only tests may", pkg, dep)
				continue
			}
			to := layerOf(dep)
			switch {
			case to < 0:
				t.Errorf("%s imports %s, which is in no layer", pkg, dep)
			case to > from:
				t.Errorf("%s (%s) imports %s (%s): imports point down", pkg, layers[from].name, dep, layers[to].name)
			case to == from && !layers[from].sideways:
				t.Errorf("%s imports %s: the %s do not import each other", pkg, dep, layers[from].name)
			}
		}
	}
	if checked < 20 {
		t.Fatalf("only %d packages checked: go list's output was not what this test reads", checked)
	}
}
