package api

import (
	"net/http"
	"regexp"
	"strings"

	"github.com/gin-gonic/gin"
)

var pathParam = regexp.MustCompile(`:([a-zA-Z_]+)`)

// openapi describes every registered route from the router and the access
// table, so the description cannot drift from what is served.
func (s *Server) openapi(c *gin.Context) {
	paths := map[string]map[string]any{}
	for _, r := range s.engine.Routes() {
		a, _ := s.RouteAccess(r.Method, r.Path)
		p := pathParam.ReplaceAllString(r.Path, "{$1}")
		if paths[p] == nil {
			paths[p] = map[string]any{}
		}
		op := map[string]any{"summary": a.Summary, "responses": map[string]any{
			"default": map[string]any{"description": "error", "content": map[string]any{"application/json": map[string]any{"schema": map[string]any{"$ref": "#/components/schemas/Error"}}}},
		}}
		if !a.Public {
			op["security"] = []map[string][]string{{"bearer": {}}, {"session": {}}}
			if a.Action != "" {
				op["x-opendems-action"] = a.Action
			}
		}
		var params []map[string]any
		for _, m := range pathParam.FindAllStringSubmatch(r.Path, -1) {
			params = append(params, map[string]any{"name": m[1], "in": "path", "required": true, "schema": map[string]string{"type": "string"}})
		}
		if params != nil {
			op["parameters"] = params
		}
		paths[p][strings.ToLower(r.Method)] = op
	}
	c.JSON(http.StatusOK, gin.H{
		"openapi": "3.1.0",
		"info":    gin.H{"title": "OpenDEMS API", "version": "1"},
		"paths":   paths,
		"components": gin.H{
			"securitySchemes": gin.H{
				"bearer":  gin.H{"type": "http", "scheme": "bearer"},
				"session": gin.H{"type": "apiKey", "in": "cookie", "name": SessionCookie},
			},
			"schemas": gin.H{"Error": gin.H{"type": "object", "properties": gin.H{"error": gin.H{"type": "object", "properties": gin.H{
				"code": gin.H{"type": "string"}, "message": gin.H{"type": "string"}}}}}},
		},
	})
}
