package web

import (
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/opendems/opendems/evidence/identity"
)

// EditorData is what the redaction editor page needs. The page itself is
// a shell: the editor's script reads everything else from ClipURL (see the
// package documentation for the JSON contract), so the page stays small
// however long the clip is.
type EditorData struct {
	// ClipURL is the clip's JSON resource (GET) and the prefix of its spec
	// resource (PUT ClipURL + "/spec").
	ClipURL string
	// BackURL, when set, links back to the request.
	BackURL string
}

// EditorLoader decides whether p may edit the clip named by the request's
// path and returns the page title and data. It returns ErrEditorNotFound
// for a clip that does not exist or that p may not see (the page answers
// the same 404 for both, so ids cannot be probed), and ErrEditorForbidden
// when p may see the clip but not edit its redaction.
type EditorLoader func(c *gin.Context, p identity.Principal) (title string, d EditorData, err error)

// Errors an EditorLoader returns to choose the page's answer.
var (
	ErrEditorNotFound  = errors.New("web: clip not found")
	ErrEditorForbidden = errors.New("web: editing this clip is not permitted")
)

// RedactionEditor returns the page handler of the redaction editor for a
// session user; cmd/demsd (or the request package's routes) mounts it on
// the clip's page path with a loader that checks the request's access.
func (u *UI) RedactionEditor(load EditorLoader) gin.HandlerFunc {
	return u.requireUser(func(c *gin.Context, v *view) {
		title, d, err := load(c, *v.User)
		switch {
		case errors.Is(err, ErrEditorNotFound):
			u.notFound(c, v)
		case errors.Is(err, ErrEditorForbidden):
			u.forbidden(c, v, "edit this clip's redaction")
		case err != nil:
			u.serverError(c, v, err)
		default:
			u.renderEditor(c, v, title, d)
		}
	})
}

func (u *UI) renderEditor(c *gin.Context, v *view, title string, d EditorData) {
	v.Title, v.Nav, v.Data = title, "requests", d
	// The page shows unredacted footage: never cache it.
	c.Header("Cache-Control", "private, no-store")
	v.Status = http.StatusOK
	u.render(c, "editor", v)
}
