// Package apiclient is the Go client of demsd's API, generated from its
// OpenAPI 3.1 description (openapi.json, the document GET
// /api/v1/openapi.json serves; a test in cmd/demsd keeps the two equal).
// It is pure Go (cmd/dems builds it with CGO_ENABLED=0).
package apiclient
