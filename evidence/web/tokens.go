package web

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/opendems/opendems/evidence"
	"github.com/opendems/opendems/evidence/api"
	"github.com/opendems/opendems/evidence/identity"
)

// tokensData is what the personal tokens page shows.
type tokensData struct {
	Tokens   []identity.APIToken
	NewToken string // shown once, on the page answering the create
	NewName  string
	Now      time.Time
}

// tokensPage lists the signed-in user's own API tokens. Everyone manages
// only their own: nobody can issue or revoke another user's token.
func (u *UI) tokensPage(c *gin.Context, v *view) {
	u.renderTokens(c, v, tokensData{})
}

func (u *UI) renderTokens(c *gin.Context, v *view, d tokensData) {
	list, err := u.d.Identity.APITokens(c.Request.Context(), v.User.ID)
	if err != nil {
		u.serverError(c, v, err)
		return
	}
	d.Tokens, d.Now = list, time.Now()
	v.Title, v.Nav, v.Data = "API tokens", "tokens", d
	if f := c.Query("flash"); f != "" && v.Flash == "" {
		v.Flash = f
	}
	u.render(c, "tokens", v)
}

// createToken makes a token for the signed-in user; days empty means the
// server's maximum lifetime.
func (u *UI) createToken(c *gin.Context, v *view) {
	var expires *time.Time
	if s := strings.TrimSpace(c.PostForm("days")); s != "" {
		d, err := time.ParseDuration(s + "h")
		if err != nil || d <= 0 {
			v.Status, v.Error = http.StatusBadRequest, "Not created: days must be a positive number."
			u.renderTokens(c, v, tokensData{})
			return
		}
		t := time.Now().Add(d * 24)
		expires = &t
	}
	name := strings.TrimSpace(c.PostForm("name"))
	token, t, err := u.d.Identity.CreateAPIToken(c.Request.Context(), v.User.ID, name, expires)
	var inv *identity.InvalidError
	switch {
	case errors.As(err, &inv):
		v.Status, v.Error = http.StatusBadRequest, "Not created: "+inv.Error()
		u.renderTokens(c, v, tokensData{})
		return
	case err != nil:
		u.serverError(c, v, err)
		return
	}
	u.audit(c, api.AuditEvent{Type: "token_created", Actor: v.User.Actor(), Outcome: "success",
		Details: map[string]any{"user_id": v.User.ID.String(), "token_prefix": t.Prefix, "via": "web"}})
	v.Flash = "Token " + t.Name + " created. Copy it now: it is shown only once."
	u.renderTokens(c, v, tokensData{NewToken: token, NewName: t.Name})
}

func (u *UI) revokeToken(c *gin.Context, v *view) {
	id, err := uuid.Parse(c.Param("id"))
	if err != nil {
		u.notFound(c, v)
		return
	}
	if err := u.d.Identity.RevokeAPIToken(c.Request.Context(), v.User.ID, id); err != nil {
		if errors.Is(err, evidence.ErrNotFound) {
			u.notFound(c, v)
			return
		}
		u.serverError(c, v, err)
		return
	}
	u.audit(c, api.AuditEvent{Type: "token_revoked", Actor: v.User.Actor(), Outcome: "success",
		Details: map[string]any{"token_id": id.String(), "via": "web"}})
	c.Redirect(http.StatusSeeOther, "/tokens?flash="+urlq("Token revoked."))
}
