package web

import (
	"bytes"
	"encoding/base64"
	"errors"
	"html/template"
	"image/png"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/pquerna/otp"

	"github.com/opendems/opendems/evidence/api"
	"github.com/opendems/opendems/evidence/identity"
)

// mfaData is the model of the second-factor page.
type mfaData struct {
	Enrolled bool
	Secret   string
	QR       template.URL // data: PNG of the otpauth URL
	Recovery []string     // shown once, after enrolment
	Next     string
}

// mfaState says whether a page request must pass the second factor first:
// required for the role or enrolled by the user, and not yet passed in
// this session. It mirrors the API's rule for cookie requests, so pages
// (declared Public) enforce exactly what the API enforces.
func (u *UI) mfaPending(c *gin.Context, p identity.Principal, sess identity.Session) (pending, enrolled bool, err error) {
	if sess.MFAPassed {
		return false, false, nil
	}
	usr, err := u.d.Identity.UserByID(c.Request.Context(), p.ID)
	if err != nil {
		return false, false, err
	}
	return identity.MFARequiredRoles[usr.Role] || usr.MFAEnrolled, usr.MFAEnrolled, nil
}

// mfaPage asks for the code of an enrolled user, or enrols one whose role
// requires a second factor (secret, QR code, first code).
func (u *UI) mfaPage(c *gin.Context) {
	p, ok := api.Principal(c)
	sess, hasSession := api.SessionOf(c)
	if !ok || !hasSession {
		c.Redirect(http.StatusSeeOther, "/login")
		return
	}
	v := &view{User: &p, CSRF: sess.CSRFToken, Title: "Second factor", Can: map[string]bool{}}
	pending, enrolled, err := u.mfaPending(c, p, sess)
	if err != nil {
		u.serverError(c, v, err)
		return
	}
	next := safeNext(c.Query("next"))
	if !pending {
		c.Redirect(http.StatusSeeOther, next)
		return
	}
	d := mfaData{Enrolled: enrolled, Next: next}
	if !enrolled {
		en, err := u.d.Identity.BeginTOTP(c.Request.Context(), p.ID, "OpenDEMS")
		if err != nil {
			u.serverError(c, v, err)
			return
		}
		d.Secret = en.Secret
		if key, err := otp.NewKeyFromURL(en.URL); err == nil {
			if img, err := key.Image(200, 200); err == nil {
				var b bytes.Buffer
				if png.Encode(&b, img) == nil {
					d.QR = template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(b.Bytes()))
				}
			}
		}
	}
	v.Data = d
	u.render(c, "mfa", v)
}

// mfaSubmit checks the code (or confirms the enrolment) and marks the
// session as having passed the second factor.
func (u *UI) mfaSubmit(c *gin.Context) {
	ctx := c.Request.Context()
	p, ok := api.Principal(c)
	sess, hasSession := api.SessionOf(c)
	cookie, cerr := c.Cookie(api.SessionCookie)
	if !ok || !hasSession || cerr != nil {
		c.Redirect(http.StatusSeeOther, "/login")
		return
	}
	v := &view{User: &p, CSRF: sess.CSRFToken, Title: "Second factor", Can: map[string]bool{}}
	_, enrolled, err := u.mfaPending(c, p, sess)
	if err != nil {
		u.serverError(c, v, err)
		return
	}
	code := strings.TrimSpace(c.PostForm("code"))
	d := mfaData{Enrolled: enrolled, Next: safeNext(c.PostForm("next"))}
	if enrolled {
		err = u.d.Identity.VerifySessionSecondFactor(ctx, cookie, p.ID, code)
	} else {
		d.Recovery, err = u.d.Identity.ConfirmTOTP(ctx, p.ID, code)
	}
	if err != nil {
		u.audit(c, api.AuditEvent{Type: "mfa", Actor: p.Actor(), Outcome: "failure", Details: map[string]any{"reason": err.Error(), "via": "web", "enrolment": !enrolled}})
		v.Status, v.Error = http.StatusUnauthorized, "That code is not valid. Check your authenticator app's clock and try again."
		if errors.Is(err, identity.ErrMFANotPending) {
			v.Error = "The enrolment expired; start again."
		}
		if !enrolled {
			// Show a fresh secret: the pending one may be the problem.
			c.Request.URL.RawQuery = "next=" + urlq(d.Next)
			u.mfaPage(c)
			return
		}
		v.Data = d
		u.render(c, "mfa", v)
		return
	}
	if err := u.d.Identity.MarkSessionMFA(ctx, cookie); err != nil {
		u.serverError(c, v, err)
		return
	}
	u.audit(c, api.AuditEvent{Type: "mfa", Actor: p.Actor(), Outcome: "success", Details: map[string]any{"via": "web", "enrolment": !enrolled}})
	if len(d.Recovery) > 0 {
		v.Flash = "Second factor enrolled. Store these recovery codes somewhere safe: each works once if you lose your device, and they are not shown again."
		d.Enrolled = true
		v.Data = d
		u.render(c, "mfa", v)
		return
	}
	c.Redirect(http.StatusSeeOther, d.Next)
}
