package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
)

// The OpenAPI description is kept true three ways: the committed copy
// (which the Go client is generated from) must equal what demsd serves;
// every operationId ever published stays, naming the same method and
// path; and every answer the tests receive from the real handlers is
// validated against it (contractServer).

var update = flag.Bool("update", false, "rewrite the committed OpenAPI document and add new operationIds to the golden list")

// committedDocument is the description the generated client is built from.
var committedDocument = filepath.Join("..", "..", "..", "..", "evidence", "api", "apiclient", "openapi.json")

const operationIDsFile = "testdata/operation_ids.txt"

// documentJSON is the served description, indented as committed.
func documentJSON(t *testing.T, a *App) []byte {
	t.Helper()
	raw, err := json.MarshalIndent(a.API.Document(), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(raw, '\n')
}

// loadDocument parses and validates a description with kin-openapi
// (OpenAPI 3.1, JSON Schema 2020-12).
func loadDocument(t *testing.T, raw []byte) *openapi3.T {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(raw)
	if err != nil {
		t.Fatalf("load OpenAPI document: %v", err)
	}
	if !doc.IsOpenAPI31OrLater() {
		t.Fatalf("document is OpenAPI %s, want 3.1", doc.OpenAPI)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("OpenAPI document does not validate: %v", err)
	}
	return doc
}

// untypedJSON lists the operations whose JSON answer is deliberately any
// object: the description itself, and policy explanations (their shape is
// the policy engine's, which differs by action and resource).
var untypedJSON = map[string]bool{"openAPIDocument": true, "explainPolicy": true}

func TestOpenAPIDocument(t *testing.T) {
	app, srv, _ := leadTestApp(t)
	served := documentJSON(t, app)

	// What the route serves is the document the test checks.
	resp, err := http.Get(srv.URL + "/api/v1/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var a, b any
	if err := json.Unmarshal(body, &a); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(served, &b); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Fatal("GET /api/v1/openapi.json differs from Server.Document")
	}
	doc := loadDocument(t, served)

	// Every route has a unique operationId; every JSON operation a
	// typed answer (a $ref to a component, not an open object).
	seen := map[string]string{}
	ids := map[string]string{} // op → "METHOD path"
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			where := method + " " + path
			if op.OperationID == "" {
				t.Errorf("%s has no operationId: give its api.Route an Op", where)
				continue
			}
			if other, dup := seen[op.OperationID]; dup {
				t.Errorf("operationId %q is used by %s and %s", op.OperationID, other, where)
			}
			seen[op.OperationID] = where
			ids[op.OperationID] = where
			for code, r := range op.Responses.Map() {
				if code == "default" || r.Value == nil {
					continue
				}
				// A JSON answer has its schema; a JSON file to download (a
				// job's output document) is declared without one.
				mt := r.Value.Content["application/json"]
				if mt == nil || mt.Schema == nil || untypedJSON[op.OperationID] {
					continue
				}
				if mt.Schema.Ref == "" && len(mt.Schema.Value.Properties) == 0 {
					t.Errorf("%s (%s) answers %s with an untyped JSON body: declare its Go type as api.Route.Out", where, op.OperationID, code)
				}
			}
		}
	}
	if len(ids) < 100 {
		t.Errorf("only %d operations described", len(ids))
	}

	// operationIds are stable: the golden list only grows.
	checkOperationIDs(t, ids)

	// The committed document (what the client is generated from) is the
	// served one.
	if *update {
		if err := os.WriteFile(committedDocument, served, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	committed, err := os.ReadFile(committedDocument)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(committed, served) {
		t.Errorf("%s is out of date: run go test ./cmd/demsd/internal/server -run TestOpenAPIDocument -update, then go generate ./evidence/api/apiclient", committedDocument)
	}
}

// checkOperationIDs compares the operations with the golden list: an id
// that disappeared or now names another method or path fails; a new one
// fails until added (-update adds new ones, never removes or changes).
func checkOperationIDs(t *testing.T, ids map[string]string) {
	t.Helper()
	golden := map[string]string{}
	var order []string
	if f, err := os.Open(operationIDsFile); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			id, where, ok := strings.Cut(line, " ")
			if !ok {
				t.Fatalf("%s: bad line %q", operationIDsFile, line)
			}
			golden[id] = where
			order = append(order, line)
		}
		f.Close()
	} else if !*update {
		t.Fatal(err)
	}
	for id, where := range golden {
		got, ok := ids[id]
		switch {
		case !ok:
			t.Errorf("operationId %s (%s) disappeared: operationIds are stable; restore the route or its Op", id, where)
		case got != where:
			t.Errorf("operationId %s names %s, it named %s: operationIds are stable; give the new route a new Op", id, got, where)
		}
	}
	var added []string
	for id, where := range ids {
		if _, ok := golden[id]; !ok {
			added = append(added, id+" "+where)
		}
	}
	sort.Strings(added)
	if len(added) == 0 {
		return
	}
	if !*update {
		t.Errorf("new operationIds not in %s (run with -update to add them): %s", operationIDsFile, strings.Join(added, ", "))
		return
	}
	header := "# Every operationId demsd has published: OPERATION_ID METHOD PATH.\n# Stable: a line is never removed or changed (TestOpenAPIDocument).\n"
	out := header + strings.Join(append(order, added...), "\n") + "\n"
	if err := os.MkdirAll(filepath.Dir(operationIDsFile), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(operationIDsFile, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
}

// contractServer serves the app like httptest.NewServer and validates
// every answer against the served OpenAPI description with kin-openapi's
// openapi3filter: status, content type and JSON body (JSON Schema
// 2020-12). Requests the server accepted (2xx) are validated too, so the
// declared request bodies and parameters are what handlers take. A
// mismatch fails the test at its end, naming the operation.
func contractServer(t *testing.T, a *App) *httptest.Server {
	t.Helper()
	c := newContract(t, a)
	t.Cleanup(c.report) // runs after srv.Close: every handler has returned
	srv := httptest.NewServer(c.wrap(a.API))
	t.Cleanup(srv.Close)
	return srv
}

type contract struct {
	t      *testing.T
	router routers.Router
	mu     sync.Mutex
	errs   []string
	seen   map[string]int
}

func newContract(t *testing.T, a *App) *contract {
	doc := loadDocument(t, documentJSON(t, a))
	doc.Servers = nil
	r, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	validated.Lock()
	for _, item := range doc.Paths.Map() {
		for _, op := range item.Operations() {
			validated.all[op.OperationID] = true
		}
	}
	validated.Unlock()
	return &contract{t: t, router: r, seen: map[string]int{}}
}

func (c *contract) fail(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if len(msg) > 1500 {
		msg = msg[:1500] + "…"
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.errs) < 60 {
		c.errs = append(c.errs, msg)
	}
}

// validated counts, over the package's tests, the success answers
// validated per operation; TestMain reports the operations none reached.
var validated = struct {
	sync.Mutex
	ops map[string]int
	all map[string]bool
}{ops: map[string]int{}, all: map[string]bool{}}

func TestMain(m *testing.M) {
	code := m.Run()
	validated.Lock()
	var missed []string
	for op := range validated.all {
		if validated.ops[op] == 0 {
			missed = append(missed, op)
		}
	}
	sort.Strings(missed)
	if len(validated.all) > 0 {
		fmt.Printf("OpenAPI contract: success answers of %d of %d operations validated; none for: %s\n",
			len(validated.all)-len(missed), len(validated.all), strings.Join(missed, " "))
	}
	validated.Unlock()
	os.Exit(code)
}

func (c *contract) report() {
	c.mu.Lock()
	defer c.mu.Unlock()
	validated.Lock()
	for op, n := range c.seen {
		validated.ops[op] += n
	}
	validated.Unlock()
	for _, e := range c.errs {
		c.t.Errorf("OpenAPI contract: %s", e)
	}
}

// recorder passes an answer through and keeps a copy of it.
type recorder struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	r.body.Write(p)
	return r.ResponseWriter.Write(p)
}

func (r *recorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func (c *contract) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var reqBody []byte
		if req.Body != nil {
			reqBody, _ = io.ReadAll(req.Body)
			req.Body.Close()
			req.Body = io.NopCloser(bytes.NewReader(reqBody))
		}
		rec := &recorder{ResponseWriter: w}
		h.ServeHTTP(rec, req)
		c.check(req, reqBody, rec)
	})
}

func (c *contract) check(req *http.Request, reqBody []byte, rec *recorder) {
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	route, params, err := c.router.FindRoute(req)
	if err != nil {
		// Unrouted paths (404 from gin) and catch-all paths (static
		// files, files of a shared package) the router cannot match.
		return
	}
	name := route.Operation.OperationID
	ctx := context.Background()
	in := &openapi3filter.RequestValidationInput{
		Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc},
	}
	if rec.status < 300 {
		c.mu.Lock()
		c.seen[name]++ // a success answer validated
		c.mu.Unlock()
	}
	if rb := route.Operation.RequestBody; rb != nil && rb.Value.Content["application/json"] == nil {
		// Forms and uploads: their bodies are not JSON documents.
		in.Options.ExcludeRequestBody = true
	}
	if rec.status < 300 && !isPage(route.Operation) {
		r2 := req.Clone(ctx)
		r2.Body = io.NopCloser(bytes.NewReader(reqBody))
		in.Request = r2
		if err := openapi3filter.ValidateRequest(ctx, in); err != nil {
			c.fail("%s %s (%s) was accepted (%d) but its request does not match the description: %s", req.Method, req.URL.Path, name, rec.status, oneLine(err))
		}
		in.Request = req
	}
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in,
		Status:                 rec.status,
		Header:                 rec.Header(),
		Options:                &openapi3filter.Options{IncludeResponseStatus: true},
	}
	out.SetBodyBytes(rec.body.Bytes())
	if err := openapi3filter.ValidateResponse(ctx, out); err != nil {
		body := rec.body.String()
		if len(body) > 300 {
			body = body[:300] + "…"
		}
		c.fail("%s %s (%s) answered %d %s that does not match the description: body %s: %s", req.Method, req.URL.Path, name, rec.status, rec.Header().Get("Content-Type"), body, oneLine(err))
	}
}

// oneLine keeps the reason of a validation error and drops the schema
// and value kin-openapi prints after it.
func oneLine(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, "\nSchema:"); i > 0 {
		msg = msg[:i]
	}
	return strings.Join(strings.Fields(msg), " ")
}

// isPage reports a web page (the table test posts JSON to pages, which
// re-render their form with the error).
func isPage(op *openapi3.Operation) bool { return op.Extensions["x-opendems-page"] == true }
