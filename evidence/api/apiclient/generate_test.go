package apiclient

import (
	"bytes"
	"os"
	"testing"

	"github.com/opendems/opendems/evidence/api/apiclient/internal/codegen"
)

// TestGeneratedClientIsCurrent fails when client_gen.go is not what the
// generator writes from openapi.json (run go generate ./evidence/api/apiclient).
// cmd/demsd's TestOpenAPIDocument keeps openapi.json equal to the served
// description, so the client follows the server's route table.
func TestGeneratedClientIsCurrent(t *testing.T) {
	doc, err := os.ReadFile("openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	want, err := codegen.Generate(doc, "apiclient")
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("client_gen.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("client_gen.go is out of date: run go generate ./evidence/api/apiclient")
	}
}
