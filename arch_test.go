package sitetwin_test

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestLayers keeps the import direction of DESIGN.md and STYLE.md true: the
// domain imports only the standard library, pure computation imports no
// adapter and no network, adapters never import each other, and nothing
// imports cmd.
func TestLayers(t *testing.T) {
	const mod = "github.com/sitetwin/sitetwin/"
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Deps " "}} | {{join .Imports " "}}`, "./...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	// what each pure (layer 1) package may import of ours
	pure := map[string][]string{"predict": {"twin"}, "citysim": {"twin"}, "scenarios": {"twin", "predict", "citysim"}}
	layer := map[string]int{"twin": 0, "predict": 1, "scenarios": 1, "citysim": 1, "streams": 2, "statefun": 2, "connectors": 2, "counterparts": 2, "dashboard": 2, "cmd": 3, "bench": 3}
	// Pure computation may not use the network or start processes itself.
	// Only its own imports are checked: golearn (the classifier
	// library) reaches os/exec through a plotting package it never calls
	// from the trees sitetwin uses.
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		deps, imports, _ := strings.Cut(line, " | ")
		pkg := strings.TrimPrefix(strings.Fields(deps)[0], mod)
		if layer[strings.SplitN(pkg, "/", 2)[0]] != 1 || !strings.HasPrefix(deps, mod) {
			continue
		}
		for _, imp := range strings.Fields(imports) {
			if imp == "net" || imp == "net/http" || imp == "os/exec" || strings.HasPrefix(imp, "github.com/twmb/") || strings.HasPrefix(imp, "github.com/gorilla/") {
				t.Errorf("%s (pure computation) imports %s: no network or processes in layer 1", pkg, imp)
			}
		}
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		deps, _, _ := strings.Cut(line, " | ")
		fields := strings.Fields(deps)
		pkg := strings.TrimPrefix(fields[0], mod)
		top := strings.SplitN(pkg, "/", 2)[0]
		l, known := layer[top]
		if !known {
			continue
		}
		for _, dep := range fields[1:] {
			if !strings.HasPrefix(dep, mod) {
				if l == 0 && strings.Contains(strings.SplitN(dep, "/", 2)[0], ".") {
					t.Errorf("%s (domain) imports %s: the domain may use the standard library only", pkg, dep)
				}
				continue
			}
			dtop := strings.SplitN(strings.TrimPrefix(dep, mod), "/", 2)[0]
			dl, ok := layer[dtop]
			switch {
			case !ok || dtop == top:
			case dl == 3:
				t.Errorf("%s imports %s: nothing imports cmd or bench", pkg, dep)
			case dl > l || dl == l && l == 2:
				t.Errorf("%s (layer %d) imports %s (layer %d): imports must point inward", pkg, l, dep, dl)
			case l == 1 && !slices.Contains(pure[top], dtop):
				t.Errorf("%s imports %s: %s may import only %v of ours", pkg, dep, top, pure[top])
			}
		}
	}
}
