package citysim_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestPurity keeps the package a pure function of its Config: it imports
// only the standard library's computation packages and twin, never reads
// the clock, starts no goroutine and uses no global random source.
func TestPurity(t *testing.T) {
	allowed := map[string]bool{
		"cmp": true, "errors": true, "fmt": true, "math": true, "math/rand/v2": true,
		"slices": true, "strconv": true, "strings": true, "time": true,
		"github.com/sitetwin/sitetwin/twin": true,
	}
	forbidden := map[string]bool{"time.Now": true, "time.Since": true, "time.Until": true, "time.Sleep": true, "time.After": true, "time.Tick": true, "time.NewTimer": true, "time.NewTicker": true, "time.LoadLocation": true}
	randOK := map[string]bool{"rand.New": true, "rand.NewPCG": true, "rand.Rand": true, "rand.PCG": true}
	entries, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, de := range entries {
		name := de.Name()
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if !allowed[path] {
				t.Errorf("%s imports %s", name, path)
			}
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.GoStmt:
				t.Errorf("%s: go statement at %v", name, fset.Position(n.Pos()))
			case *ast.SelectorExpr:
				if id, ok := n.X.(*ast.Ident); ok {
					sel := id.Name + "." + n.Sel.Name
					if forbidden[sel] || id.Name == "rand" && !randOK[sel] {
						t.Errorf("%s uses %s at %v", name, sel, fset.Position(n.Pos()))
					}
				}
			}
			return true
		})
	}
}
