package web

import (
	"fmt"
	"html/template"
	"log/slog"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/opendems/opendems/evidence/api"
)

// Shell renders the pages of other packages (evidence/release: the review
// page, the share links' staff page and the recipient's public pages)
// inside the app's layout, so every page shares its header, navigation,
// styles, skip link and footer. Each page is a template defined by the
// package; it receives ShellPage.Data as its dot.
type Shell struct {
	pages map[string]*template.Template
}

// ShellPage is one page to render in the layout.
type ShellPage struct {
	Title string
	// Nav is the highlighted navigation entry ("requests").
	Nav string
	// Public pages are for people without an account (a share link's
	// recipient): no staff navigation or user menu even in a logged-in
	// browser, Brand (the agency's name) instead of the app's, and a
	// footer about what is recorded.
	Public bool
	Brand  string
	// Status is the HTTP status (0 = 200).
	Status int
	Flash  string
	Error  string
	Data   any
}

// NewShell parses defs (the package's {{define}} blocks) once per page
// named in pages, each inside the app's layout; extra adds template
// functions to the web package's own.
func NewShell(defs string, extra template.FuncMap, pages ...string) (*Shell, error) {
	s := &Shell{pages: map[string]*template.Template{}}
	for _, name := range pages {
		t, err := template.New("layout.html").Funcs(funcs).Funcs(extra).ParseFS(assets, "templates/layout.html")
		if err == nil {
			_, err = t.Parse(defs + `{{define "content"}}{{template "` + name + `" .Data}}{{end}}`)
		}
		if err != nil {
			return nil, fmt.Errorf("web: shell page %s: %w", name, err)
		}
		s.pages[name] = t
	}
	return s, nil
}

// Render writes a page. A staff page gets the navigation the caller may
// use (the enforcement point's decisions, as for the web package's pages).
func (s *Shell) Render(c *gin.Context, name string, p ShellPage) {
	t, ok := s.pages[name]
	if !ok {
		c.String(http.StatusInternalServerError, "no page "+name)
		return
	}
	v := &view{Title: p.Title, Nav: p.Nav, Public: p.Public, Brand: p.Brand, Flash: p.Flash, Error: p.Error,
		Data: p.Data, Status: p.Status, Request: c.Request}
	if !p.Public {
		if pr, ok := api.Principal(c); ok {
			v.User = &pr
			v.Can = routeAbilities(c)
		}
		if sess, ok := api.SessionOf(c); ok {
			v.CSRF = sess.CSRFToken
		}
	}
	status := p.Status
	if status == 0 {
		status = http.StatusOK
	}
	c.Header("Content-Type", "text/html; charset=utf-8")
	c.Status(status)
	if err := t.ExecuteTemplate(c.Writer, "layout.html", v); err != nil {
		slog.ErrorContext(c.Request.Context(), "web: render", "page", name, "err", err)
	}
}
