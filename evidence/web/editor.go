package web

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/opendems/opendems/evidence/api"
)

// EditorData is what the redaction editor page needs. The page itself is
// a shell: the editor's script reads everything else from ClipURL (see the
// package documentation for the JSON contract), so the page stays small
// however long the clip is.
type EditorData struct {
	// ClipURL is the clip's JSON resource (GET) and the prefix of its spec
	// resource (PUT ClipURL + "/spec").
	ClipURL string
	// ProxyURL, when set, is the item's proxy: the page starts loading it
	// at once (the video's index, which for a long clip is the largest
	// thing the editor waits for) instead of after the clip JSON names it.
	// It must equal the clip JSON's proxy_url.
	ProxyURL string
	// BackURL, when set, links back to the request.
	BackURL string
	// CanEdit is the server's decision that the caller may save specs of
	// this clip now (the edit action on the request, and a request state
	// that takes specs). Without it the page shows no edit control and
	// the script refuses edits; the spec route refuses anyway.
	CanEdit bool
	// ReadOnlyReason says why the page is read-only, shown on the page.
	ReadOnlyReason string
}

// EditorLoader maps an authorized page request to the clip it edits: the
// page title and the editor's data. The route's Access decides who may
// open the editor (a page route whose action is decided on the request
// its path names, like every page of the route table); the loader checks
// only that the clip belongs to that request, returning an error of kind
// evidence.ErrNotFound when it does not, so clip ids cannot be probed.
type EditorLoader func(c *gin.Context) (title string, d EditorData, err error)

// RedactionEditor returns the handler of the redaction editor page, for a
// route declared in the route table, e.g.
//
//	{Method: "GET", Path: "/requests/:id/clips/:clip/edit",
//	 Access: api.Access{Page: true, Action: "request:redact", Resource: <request kind>},
//	 Handler: ui.RedactionEditor(loader)}
func (u *UI) RedactionEditor(load EditorLoader) gin.HandlerFunc {
	return u.page(func(c *gin.Context, v *view) {
		title, d, err := load(c)
		if err != nil {
			status, msg := api.StatusOf(err)
			if status >= 500 {
				u.serverError(c, v, err)
				return
			}
			u.PageError(c, status, msg)
			return
		}
		u.renderEditor(c, v, title, d)
	})
}

func (u *UI) renderEditor(c *gin.Context, v *view, title string, d EditorData) {
	v.Title, v.Nav, v.Data = title, "requests", d
	// The page opens unredacted footage: never cache it.
	c.Header("Cache-Control", "private, no-store")
	v.Status = http.StatusOK
	u.render(c, "editor", v)
}
