package chain

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestPureGoImports keeps the offline verifier free of database, HTTP and
// cgo dependencies: only the standard library and google/uuid.
func TestPureGoImports(t *testing.T) {
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
			p, _ := strconv.Unquote(imp.Path.Value)
			if p == "C" || (strings.Contains(p, ".") && p != "github.com/google/uuid") {
				t.Errorf("%s imports %s: package chain must stay pure Go with no third-party dependencies", f, p)
			}
		}
	}
}
