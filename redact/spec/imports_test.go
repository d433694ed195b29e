package spec

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestPureGo keeps the spec package free of cgo and third-party code, so
// the API and `dems` can parse and validate specs and stay CGO_ENABLED=0.
func TestPureGo(t *testing.T) {
	files, _ := filepath.Glob("*.go")
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range af.Imports {
			if p, _ := strconv.Unquote(imp.Path.Value); p == "C" || strings.Contains(p, ".") {
				t.Errorf("%s imports %s: package spec must stay pure Go (standard library only)", f, p)
			}
		}
	}
}
