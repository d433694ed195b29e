package api

import (
	"net/http"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"
)

var pathParam = regexp.MustCompile(`[:*]([a-zA-Z_]+)`)

// OpenAPIPath turns a gin route pattern into an OpenAPI path template.
func OpenAPIPath(route string) string { return pathParam.ReplaceAllString(route, "{$1}") }

// openapi serves the description.
func (s *Server) openapi(c *gin.Context) { c.JSON(http.StatusOK, s.Document()) }

// Document describes every mounted route as OpenAPI 3.1, from the route
// table itself (Route's Op, In, Query, Out, Status and Access), so the
// description cannot drift from what is routed; a test in cmd/demsd
// validates real answers against it, so it cannot drift from what the
// handlers write either.
func (s *Server) Document() map[string]any {
	sch := newSchemas()
	paths := map[string]map[string]any{}
	routes := s.engine.Routes()
	sort.Slice(routes, func(i, j int) bool {
		return routes[i].Path+" "+routes[i].Method < routes[j].Path+" "+routes[j].Method
	})
	// Answers first, so a type both answered and sent gets its plain
	// name for the answer (what clients read most) and Name+Input for
	// the body.
	for _, r := range routes {
		if out := s.docs[r.Method+" "+r.Path].Out; out != nil {
			sch.of(reflect.TypeOf(out))
		}
		if acc := s.docs[r.Method+" "+r.Path].Accepted; acc != nil {
			sch.of(reflect.TypeOf(acc))
		}
	}
	for _, r := range routes {
		key := r.Method + " " + r.Path
		doc := s.docs[key]
		a := s.access[key]
		p := OpenAPIPath(r.Path)
		if paths[p] == nil {
			paths[p] = map[string]any{}
		}
		paths[p][strings.ToLower(r.Method)] = s.operation(sch, r.Method, r.Path, doc, a)
	}
	schemas := map[string]any{"Error": errorSchema}
	for n, d := range sch.defs {
		schemas[n] = d
	}
	return map[string]any{
		"openapi": "3.1.0",
		"info": map[string]any{"title": "OpenDEMS API", "version": "1",
			"description": "The API of demsd, generated from its route table. Every call takes Authorization: Bearer <token> (a user's API token or a dock's token) or the web session cookie; errors are {\"error\":{\"code\",\"message\"}} with the status of their kind."},
		"paths": paths,
		"components": map[string]any{
			"securitySchemes": map[string]any{
				"bearer":  map[string]any{"type": "http", "scheme": "bearer"},
				"session": map[string]any{"type": "apiKey", "in": "cookie", "name": SessionCookie},
			},
			"schemas": schemas,
		},
	}
}

// errorSchema is ErrorBody: code and message, plus what an error adds.
var errorSchema = map[string]any{
	"type": "object", "required": []any{"error"}, "additionalProperties": false,
	"properties": map[string]any{"error": map[string]any{
		"type": "object", "required": []any{"code", "message"},
		"properties": map[string]any{
			"code":    map[string]any{"type": "string"},
			"message": map[string]any{"type": "string"},
		},
		"additionalProperties": true,
	}},
}

func jsonContent(schema map[string]any) map[string]any {
	return map[string]any{"application/json": map[string]any{"schema": schema}}
}

func (s *Server) operation(sch *schemas, method, route string, doc Route, a Access) map[string]any {
	op := map[string]any{}
	if doc.Op != "" {
		op["operationId"] = doc.Op
	}
	if a.Summary != "" {
		op["summary"] = a.Summary
	}
	op["tags"] = []string{tagOf(route, a)}
	if !a.Public {
		op["security"] = []map[string][]string{{"bearer": {}}, {"session": {}}}
		if a.Action != "" {
			op["x-opendems-action"] = a.Action
		}
		if a.Resource != "" {
			op["x-opendems-resource"] = a.Resource
		}
	}
	if a.Page {
		op["x-opendems-page"] = true
	}
	var params []map[string]any
	for _, m := range pathParam.FindAllStringSubmatch(route, -1) {
		params = append(params, map[string]any{"name": m[1], "in": "path", "required": true, "schema": map[string]any{"type": "string"}})
	}
	if doc.Query != nil {
		params = append(params, sch.queryParameters(reflect.TypeOf(doc.Query))...)
	}
	if params != nil {
		op["parameters"] = params
	}
	switch {
	case doc.In != nil:
		op["requestBody"] = map[string]any{"required": !doc.InOptional, "content": jsonContent(sch.forRequests().of(reflect.TypeOf(doc.In)))}
	case doc.InContent != "":
		op["requestBody"] = map[string]any{"required": true, "content": map[string]any{doc.InContent: map[string]any{}}}
	}

	ok := map[string]any{"description": "success"}
	head := method == http.MethodHead
	if !head && (doc.Out != nil || doc.OutContent != "") {
		ct := map[string]any{}
		if doc.Out != nil {
			ct = jsonContent(sch.of(reflect.TypeOf(doc.Out)))
		}
		if doc.OutContent != "" {
			for _, mt := range strings.Split(doc.OutContent, ",") {
				ct[strings.TrimSpace(mt)] = map[string]any{}
			}
		}
		ok["content"] = ct
	}
	status := doc.Status
	if status == 0 {
		status = http.StatusOK
	}
	responses := map[string]any{strconv.Itoa(status): ok}
	for _, st := range doc.Also {
		responses[strconv.Itoa(st)] = ok
		if st == http.StatusPartialContent {
			// http.ServeContent answers an unsatisfiable Range in text.
			responses["416"] = map[string]any{"description": "range not satisfiable", "content": map[string]any{"text/plain": map[string]any{}}}
		}
	}
	if doc.Accepted != nil {
		responses[strconv.Itoa(http.StatusAccepted)] = map[string]any{"description": "accepted: acknowledged, finished later",
			"content": jsonContent(sch.of(reflect.TypeOf(doc.Accepted)))}
	}
	errContent := jsonContent(map[string]any{"$ref": schemaRefStart + "Error"})
	if a.Page || !strings.HasPrefix(route, "/api/") {
		// Outside /api/ is the web: pages, static files and share
		// links answer errors as HTML pages.
		errContent["text/html"] = map[string]any{}
	}
	// Pages send the logged-out to /login and the owing to /mfa; forms
	// answer with a redirect to their result.
	if a.Page || doc.InContent == "application/x-www-form-urlencoded" {
		if _, set := responses["303"]; !set {
			responses["303"] = map[string]any{"description": "see other: to the login page, the second factor, or the result of a form"}
		}
	}
	if head {
		errContent = nil
	}
	def := map[string]any{"description": "error"}
	if errContent != nil {
		def["content"] = errContent
	}
	responses["default"] = def
	op["responses"] = responses
	return op
}

func tagOf(route string, a Access) string {
	if a.Page {
		return "pages"
	}
	rest, ok := strings.CutPrefix(route, "/api/v1/")
	if !ok {
		return strings.Split(strings.TrimPrefix(route, "/"), "/")[0]
	}
	first := strings.Split(rest, "/")[0]
	if first == "public" {
		return "public"
	}
	return first
}
