package web

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/opendems/opendems/evidence"
	"github.com/opendems/opendems/evidence/api"
	"github.com/opendems/opendems/evidence/identity"
)

// loginCSRFCookie carries the double-submit token of the login form: a
// page on another site cannot read it, so it cannot forge a login post
// (login CSRF would sign a victim into the attacker's account).
const loginCSRFCookie = "opendems_login_csrf"

type loginData struct {
	Next      string
	Username  string
	NeedCode  bool
	LoginCSRF string
}

func (u *UI) loginForm(c *gin.Context) {
	if _, ok := api.SessionOf(c); ok {
		c.Redirect(http.StatusSeeOther, safeNext(c.Query("next")))
		return
	}
	u.renderLogin(c, &view{Title: "Log in"}, loginData{Next: safeNext(c.Query("next"))})
}

func (u *UI) renderLogin(c *gin.Context, v *view, d loginData) {
	tok := randomToken()
	http.SetCookie(c.Writer, &http.Cookie{Name: loginCSRFCookie, Value: tok, Path: "/login", HttpOnly: true,
		Secure: u.d.SecureCookies, SameSite: http.SameSiteStrictMode, MaxAge: 3600})
	d.LoginCSRF = tok
	v.Data = d
	u.render(c, "login", v)
}

// login checks the password (identity.Store applies the lockout), then the
// second factor when one is required (LoginStep), then opens the session.
func (u *UI) login(c *gin.Context) {
	ctx := c.Request.Context()
	v := &view{Title: "Log in"}
	cookie, err := c.Cookie(loginCSRFCookie)
	sent := c.PostForm("login_csrf")
	if err != nil || cookie == "" || subtle.ConstantTimeCompare([]byte(cookie), []byte(sent)) != 1 {
		v.Status, v.Error = http.StatusForbidden, "The login form expired or was not sent from this site. Please try again."
		u.renderLogin(c, v, loginData{Next: safeNext(c.PostForm("next"))})
		return
	}
	d := loginData{Next: safeNext(c.PostForm("next")), Username: strings.TrimSpace(c.PostForm("username"))}
	user, err := u.d.Identity.CheckPassword(ctx, d.Username, c.PostForm("password"))
	if err != nil {
		u.audit(c, api.AuditEvent{Type: "logon", Actor: "user:" + d.Username, Outcome: "failure", Details: map[string]any{"reason": err.Error(), "via": "web"}})
		v.Status, v.Error = http.StatusUnauthorized, "Wrong username or password."
		switch {
		case errors.Is(err, identity.ErrLocked):
			v.Status, v.Error = http.StatusTooManyRequests, "This account is locked after too many failed attempts. Try again later or ask an administrator."
		case errors.Is(err, identity.ErrDisabled):
			v.Error = "This account is disabled."
		case !errors.Is(err, identity.ErrBadCredentials) && !errors.Is(err, evidence.ErrNotFound):
			v.Status, v.Error = http.StatusInternalServerError, "Login is unavailable right now."
		}
		u.renderLogin(c, v, d)
		return
	}
	// LoginStep: the second factor. An enrolled user must give a valid
	// code (or recovery code) with the password before any session exists;
	// a user whose role requires one but who has none yet gets a session
	// that can do nothing but enrol (requireUser sends it to /mfa).
	mfa := false
	if user.MFAEnrolled {
		code := strings.TrimSpace(c.PostForm("code"))
		if code == "" {
			d.NeedCode = true
			v.Status = http.StatusUnauthorized
			v.Error = "Enter the 6-digit code from your authenticator app, with your password again."
			u.renderLogin(c, v, d)
			return
		}
		if err := u.d.Identity.VerifySecondFactor(ctx, user.ID, code); err != nil {
			u.audit(c, api.AuditEvent{Type: "logon", Actor: "user:" + user.Username, Outcome: "failure", Details: map[string]any{"reason": "second factor: " + err.Error(), "via": "web"}})
			d.NeedCode = true
			v.Status, v.Error = http.StatusUnauthorized, "That code is not valid."
			u.renderLogin(c, v, d)
			return
		}
		mfa = true
	}
	value, _, err := u.d.Identity.CreateSession(ctx, user.ID, mfa, u.d.SessionMax, c.ClientIP())
	if err != nil {
		v.Status, v.Error = http.StatusInternalServerError, "Login is unavailable right now."
		u.renderLogin(c, v, d)
		return
	}
	u.d.API.SetSessionCookie(c, value)
	http.SetCookie(c.Writer, &http.Cookie{Name: loginCSRFCookie, Value: "", Path: "/login", MaxAge: -1})
	u.audit(c, api.AuditEvent{Type: "logon", Actor: "user:" + user.Username, Outcome: "success", Details: map[string]any{"via": "web", "mfa": mfa}})
	if !mfa && identity.MFARequiredRoles[user.Role] {
		c.Redirect(http.StatusSeeOther, "/mfa?next="+url.QueryEscape(d.Next))
		return
	}
	c.Redirect(http.StatusSeeOther, d.Next)
}

// logout ends the session (the API middleware checked the CSRF token).
func (u *UI) logout(c *gin.Context) {
	if cookie, err := c.Cookie(api.SessionCookie); err == nil && cookie != "" {
		_ = u.d.Identity.EndSession(c.Request.Context(), cookie)
	}
	if p, ok := api.Principal(c); ok {
		u.audit(c, api.AuditEvent{Type: "logoff", Actor: p.Actor(), Outcome: "success", Details: map[string]any{"via": "web"}})
	}
	http.SetCookie(c.Writer, &http.Cookie{Name: api.SessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true})
	c.Redirect(http.StatusSeeOther, "/login")
}

// safeNext keeps a post-login redirect on this site (no open redirect).
func safeNext(next string) string {
	if next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") {
		return "/"
	}
	if u, err := url.Parse(next); err != nil || u.Host != "" || u.Scheme != "" {
		return "/"
	}
	return next
}

func randomToken() string {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return base64.RawURLEncoding.EncodeToString(b)
}
