// Command gen writes the API client (go generate in evidence/api/apiclient).
package main

import (
	"flag"
	"log"
	"os"

	"github.com/opendems/opendems/evidence/api/apiclient/internal/codegen"
)

func main() {
	in := flag.String("in", "openapi.json", "the OpenAPI 3.1 description")
	out := flag.String("out", "client_gen.go", "the Go file to write")
	pkg := flag.String("package", "apiclient", "the Go package")
	flag.Parse()
	doc, err := os.ReadFile(*in)
	if err != nil {
		log.Fatal(err)
	}
	src, err := codegen.Generate(doc, *pkg)
	if err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(*out, src, 0o644); err != nil {
		log.Fatal(err)
	}
}
