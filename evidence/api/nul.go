package api

import (
	"mime"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/opendems/opendems/evidence"
)

// rejectNUL answers 400 for a NUL byte anywhere in the path, the query or
// a URL-encoded form body. PostgreSQL text cannot hold one, so it would
// otherwise surface as a server error deep inside a handler; no input of
// this API has a use for it. (JSON bodies are checked by the binder.)
func rejectNUL(c *gin.Context) {
	r := c.Request
	bad := strings.IndexByte(r.URL.Path, 0) >= 0 || strings.Contains(r.URL.RawPath, "%00") ||
		strings.Contains(r.URL.RawQuery, "%00") || strings.IndexByte(r.URL.RawQuery, 0) >= 0
	if !bad && r.Body != nil && (r.Method == http.MethodPost || r.Method == http.MethodPut || r.Method == http.MethodPatch) {
		if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == "application/x-www-form-urlencoded" {
			// Parsed once here; handlers read the same parsed form.
			if err := r.ParseForm(); err == nil {
				for _, vs := range r.PostForm {
					for _, v := range vs {
						if strings.IndexByte(v, 0) >= 0 {
							bad = true
						}
					}
				}
			}
		}
	}
	if bad {
		WriteError(c, evidence.Invalid("input", "NUL bytes are not allowed in any input"))
		return
	}
	c.Next()
}
