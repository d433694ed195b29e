package api

import (
	"context"
	"errors"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/opendems/opendems/evidence"
	"github.com/opendems/opendems/evidence/identity"
	"github.com/opendems/opendems/storage"
)

// LoginRequest logs in with a password.
type LoginRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

func (s *Server) login(c *gin.Context) {
	var req LoginRequest
	if !Bind(c, &req) {
		return
	}
	u, err := s.deps.Identity.CheckPassword(c.Request.Context(), req.Username, req.Password)
	if err != nil {
		s.audit(c, AuditEvent{Type: "logon", Actor: "user:" + req.Username, Outcome: "failure", Details: map[string]any{"reason": err.Error(), "via": "api"}})
		WriteError(c, err)
		return
	}
	cookie, sess, err := s.deps.Identity.CreateSession(c.Request.Context(), u.ID, false, s.deps.Options.SessionMax, c.ClientIP())
	if err != nil {
		WriteError(c, err)
		return
	}
	s.setCookie(c, cookie)
	s.audit(c, AuditEvent{Type: "logon", Actor: "user:" + u.Username, Outcome: "success", Details: map[string]any{"via": "api", "mfa_pending": u.MFAEnrolled || identity.MFARequiredRoles[u.Role]}})
	c.JSON(http.StatusOK, LoginAnswer{User: u, CSRFToken: sess.CSRFToken, ExpiresAt: sess.ExpiresAt,
		MFARequired: u.MFAEnrolled || identity.MFARequiredRoles[u.Role], MFAEnrolled: u.MFAEnrolled})
}

// SetSessionCookie writes the session cookie (used by the web UI too).
func (s *Server) SetSessionCookie(c *gin.Context, value string) { s.setCookie(c, value) }

func (s *Server) setCookie(c *gin.Context, value string) {
	http.SetCookie(c.Writer, &http.Cookie{
		Name: SessionCookie, Value: value, Path: "/", HttpOnly: true, Secure: s.deps.Options.SecureCookies,
		SameSite: http.SameSiteLaxMode, MaxAge: int(s.deps.Options.SessionMax / time.Second),
	})
}

func (s *Server) clearCookie(c *gin.Context) {
	http.SetCookie(c.Writer, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", HttpOnly: true, Secure: s.deps.Options.SecureCookies, SameSite: http.SameSiteLaxMode, MaxAge: -1})
}

func (s *Server) logout(c *gin.Context) {
	p, _ := Principal(c)
	if cookie, err := c.Cookie(SessionCookie); err == nil {
		s.deps.Identity.EndSession(c.Request.Context(), cookie)
	}
	s.clearCookie(c)
	s.audit(c, AuditEvent{Type: "logoff", Actor: p.Actor(), Outcome: "success"})
	c.Status(http.StatusNoContent)
}

func (s *Server) me(c *gin.Context) {
	p, _ := Principal(c)
	if p.Kind == identity.KindDock {
		d, err := s.deps.Identity.DockByID(c.Request.Context(), p.ID)
		if err != nil {
			WriteError(c, err)
			return
		}
		c.JSON(http.StatusOK, Me{Kind: "dock", Dock: &d})
		return
	}
	u, err := s.deps.Identity.UserByID(c.Request.Context(), p.ID)
	if err != nil {
		WriteError(c, err)
		return
	}
	out := Me{Kind: "user", User: &u}
	if sess, ok := SessionOf(c); ok {
		out.CSRFToken = sess.CSRFToken
	}
	c.JSON(http.StatusOK, out)
}

// TokenRequest creates a personal API token.
type TokenRequest struct {
	Name      string     `json:"name"`
	ExpiresAt *time.Time `json:"expires_at"`
}

func (s *Server) createMyToken(c *gin.Context) {
	p, _ := Principal(c)
	if p.Kind != identity.KindUser {
		WriteError(c, errForbidden)
		return
	}
	s.issueToken(c, p.ID)
}

// No route issues a token for another user: an administrator who could
// would hold that user's identity (issue 11). Users make their own.

func (s *Server) listMyTokens(c *gin.Context) {
	p, _ := Principal(c)
	if p.Kind != identity.KindUser {
		WriteError(c, errForbidden)
		return
	}
	list, err := s.deps.Identity.APITokens(c.Request.Context(), p.ID)
	if err != nil {
		WriteError(c, err)
		return
	}
	c.JSON(http.StatusOK, TokenList{Tokens: list})
}

func (s *Server) revokeMyToken(c *gin.Context) {
	p, _ := Principal(c)
	if p.Kind != identity.KindUser {
		WriteError(c, errForbidden)
		return
	}
	id, ok := uuidParam(c)
	if !ok {
		return
	}
	if err := s.deps.Identity.RevokeAPIToken(c.Request.Context(), p.ID, id); err != nil {
		WriteError(c, err)
		return
	}
	s.audit(c, AuditEvent{Type: "token_revoked", Actor: p.Actor(), Outcome: "success", Details: map[string]any{"token_id": id.String()}})
	c.Status(http.StatusNoContent)
}

func (s *Server) issueToken(c *gin.Context, userID uuid.UUID) {
	var req TokenRequest
	if !Bind(c, &req) {
		return
	}
	if _, err := s.deps.Identity.UserByID(c.Request.Context(), userID); err != nil {
		WriteError(c, err)
		return
	}
	token, t, err := s.deps.Identity.CreateAPIToken(c.Request.Context(), userID, req.Name, req.ExpiresAt)
	if err != nil {
		WriteError(c, err)
		return
	}
	p, _ := Principal(c)
	s.audit(c, AuditEvent{Type: "token_created", Actor: p.Actor(), Outcome: "success", Details: map[string]any{"user_id": userID.String(), "token_prefix": t.Prefix}})
	c.JSON(http.StatusCreated, CreatedToken{Token: token, Info: t})
}

func uuidParam(c *gin.Context) (uuid.UUID, bool) {
	id, err := uuid.Parse(c.Param("id"))
	if err != nil {
		WriteError(c, errNotFound)
		return id, false
	}
	return id, true
}

func (s *Server) listUnits(c *gin.Context) {
	units, err := s.deps.Identity.Units(c.Request.Context())
	if err != nil {
		WriteError(c, err)
		return
	}
	c.JSON(http.StatusOK, UnitList{Units: units})
}

// UnitRequest creates a unit.
type UnitRequest struct {
	Slug   string `json:"slug"`
	Name   string `json:"name"`
	Parent string `json:"parent"`
}

func (s *Server) createUnit(c *gin.Context) {
	var req UnitRequest
	if !Bind(c, &req) {
		return
	}
	u, err := s.deps.Identity.CreateUnit(c.Request.Context(), req.Slug, req.Name, req.Parent)
	if err != nil {
		WriteError(c, err)
		return
	}
	p, _ := Principal(c)
	s.audit(c, AuditEvent{Type: "unit_created", Actor: p.Actor(), Outcome: "success", Details: map[string]any{"unit": u.Path}})
	c.JSON(http.StatusCreated, u)
}

func (s *Server) listUsers(c *gin.Context) {
	users, err := s.deps.Identity.Users(c.Request.Context())
	if err != nil {
		WriteError(c, err)
		return
	}
	c.JSON(http.StatusOK, UserList{Users: users})
}

func (s *Server) createUser(c *gin.Context) {
	var req identity.NewUser
	if !Bind(c, &req) {
		return
	}
	u, err := s.deps.Identity.CreateUser(c.Request.Context(), req)
	if err != nil {
		WriteError(c, err)
		return
	}
	p, _ := Principal(c)
	s.audit(c, AuditEvent{Type: "user_created", Actor: p.Actor(), Outcome: "success", Details: map[string]any{"user": u.Username, "role": u.Role, "unit": u.UnitPath}})
	c.JSON(http.StatusCreated, u)
}

func (s *Server) getUser(c *gin.Context) {
	id, ok := uuidParam(c)
	if !ok {
		return
	}
	u, err := s.deps.Identity.UserByID(c.Request.Context(), id)
	if err != nil {
		WriteError(c, err)
		return
	}
	c.JSON(http.StatusOK, u)
}

// UserPatch changes a user; absent fields stay as they are.
type UserPatch struct {
	Password *string `json:"password"`
	Disabled *bool   `json:"disabled"`
	Role     *string `json:"role"`
	Unit     *string `json:"unit"`
}

func (s *Server) updateUser(c *gin.Context) {
	id, ok := uuidParam(c)
	if !ok {
		return
	}
	var req UserPatch
	if !Bind(c, &req) {
		return
	}
	if req.Password == nil && req.Disabled == nil && req.Role == nil && req.Unit == nil {
		WriteError(c, evidence.Invalid("body", "nothing to change: set password, disabled, role or unit"))
		return
	}
	p, _ := Principal(c)
	ctx := c.Request.Context()
	if id == p.ID && (req.Role != nil || req.Unit != nil || req.Disabled != nil) {
		// Nobody raises, moves or re-enables their own account.
		s.audit(c, AuditEvent{Type: "access_denied", Actor: p.Actor(), Outcome: "denied", Details: map[string]any{"reason": "own role, unit or status", "user_id": id.String()}})
		WriteError(c, Coded(evidence.ErrPermission, "forbidden", "you cannot change your own role, unit or status; ask another administrator"))
		return
	}
	if req.Password != nil {
		if err := s.deps.Identity.SetPassword(ctx, id, *req.Password); err != nil {
			WriteError(c, err)
			return
		}
		s.audit(c, AuditEvent{Type: "password_changed", Actor: p.Actor(), Outcome: "success", Details: map[string]any{"user_id": id.String()}})
	}
	if req.Disabled != nil {
		if err := s.deps.Identity.SetDisabled(ctx, id, *req.Disabled); err != nil {
			WriteError(c, err)
			return
		}
		s.audit(c, AuditEvent{Type: "account_changed", Actor: p.Actor(), Outcome: "success", Details: map[string]any{"user_id": id.String(), "disabled": *req.Disabled}})
	}
	if req.Role != nil || req.Unit != nil {
		before, err := s.deps.Identity.UserByID(ctx, id)
		if err != nil {
			WriteError(c, err)
			return
		}
		role, unit := deref(req.Role), deref(req.Unit)
		if err := s.deps.Identity.SetRoleUnit(ctx, id, role, unit); err != nil {
			WriteError(c, err)
			return
		}
		s.audit(c, AuditEvent{Type: "permission_changed", Actor: p.Actor(), Outcome: "success", Details: map[string]any{
			"user_id": id.String(), "old": map[string]string{"role": before.Role, "unit": before.Unit},
			"new": map[string]string{"role": role, "unit": unit}}})
	}
	u, err := s.deps.Identity.UserByID(ctx, id)
	if err != nil {
		WriteError(c, err)
		return
	}
	c.JSON(http.StatusOK, u)
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func (s *Server) listDocks(c *gin.Context) {
	docks, err := s.deps.Identity.Docks(c.Request.Context())
	if err != nil {
		WriteError(c, err)
		return
	}
	c.JSON(http.StatusOK, DockList{Docks: docks})
}

// DockRequest enrols a docking station.
type DockRequest struct {
	Name     string `json:"name"`
	Unit     string `json:"unit"`
	Location string `json:"location"`
}

func (s *Server) enrollDock(c *gin.Context) {
	var req DockRequest
	if !Bind(c, &req) {
		return
	}
	p, _ := Principal(c)
	var by *uuid.UUID
	if p.Kind == identity.KindUser {
		by = &p.ID
	}
	d, token, err := s.deps.Identity.EnrollDock(c.Request.Context(), req.Name, req.Unit, req.Location, by)
	if err != nil {
		WriteError(c, err)
		return
	}
	s.audit(c, AuditEvent{Type: "dock_enrolled", Actor: p.Actor(), Outcome: "success", Details: map[string]any{"dock": d.Name, "unit": d.Unit}})
	c.JSON(http.StatusCreated, EnrolledDock{Dock: d, Token: token})
}

func (s *Server) revokeDock(c *gin.Context) {
	id, ok := uuidParam(c)
	if !ok {
		return
	}
	if err := s.deps.Identity.RevokeDock(c.Request.Context(), id); err != nil {
		WriteError(c, err)
		return
	}
	p, _ := Principal(c)
	s.audit(c, AuditEvent{Type: "dock_revoked", Actor: p.Actor(), Outcome: "success", Details: map[string]any{"dock_id": id.String()}})
	d, err := s.deps.Identity.DockByID(c.Request.Context(), id)
	if err != nil {
		WriteError(c, err)
		return
	}
	c.JSON(http.StatusOK, d)
}

// ParseFilter reads evidence search parameters from a query string.
func ParseFilter(q func(string) string) (evidence.Filter, error) {
	f := evidence.Filter{
		OfficerID: q("officer_id"), DeviceID: q("device_id"), Unit: q("unit"), Category: q("category"),
		Tag: q("tag"), Text: q("q"), State: q("state"), Sort: q("sort"), After: q("after"),
	}
	if v := q("order"); v != "" {
		switch v {
		case "asc":
		case "desc":
			f.Desc = true
		default:
			return f, &evidence.FilterError{Field: "order", Reason: "want asc or desc"}
		}
	}
	if v := q("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 500 {
			return f, &evidence.FilterError{Field: "limit", Reason: "want an integer between 1 and 500"}
		}
		f.Limit = n
	}
	if v := q("flagged"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return f, &evidence.FilterError{Field: "flagged", Reason: "want true or false"}
		}
		f.Flagged = &b
	}
	if v := q("case"); v != "" {
		id, err := uuid.Parse(v)
		if err != nil {
			return f, &evidence.FilterError{Field: "case", Reason: "want a case id"}
		}
		f.CaseID = &id
	}
	for _, tf := range []struct {
		name string
		dst  **time.Time
	}{{"from", &f.From}, {"to", &f.To}} {
		v := q(tf.name)
		if v == "" {
			continue
		}
		t, err := parseTime(v)
		if err != nil {
			return f, &evidence.FilterError{Field: tf.name, Reason: "want RFC 3339 time or YYYY-MM-DD"}
		}
		*tf.dst = &t
	}
	return f, nil
}

func parseTime(v string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	return time.Parse("2006-01-02", v)
}

func (s *Server) listEvidence(c *gin.Context) {
	f, err := ParseFilter(c.Query)
	if err != nil {
		WriteError(c, err)
		return
	}
	p, _ := Principal(c)
	ctx := c.Request.Context()
	page, err := s.deps.Evidence.List(ctx, s.deps.Authorizer.ListScope(ctx, p), f)
	if err != nil {
		WriteError(c, err)
		return
	}
	// The scope is a pre-filter; every listed item is decided too.
	visible := page.Items[:0]
	for i := range page.Items {
		if attrs := page.Items[i].Attributes(); s.deps.Authorizer.Authorize(ctx, p, "evidence:list", &attrs).Allowed {
			visible = append(visible, page.Items[i])
		}
	}
	page.Items = visible
	c.JSON(http.StatusOK, page)
}

func (s *Server) getEvidence(c *gin.Context) {
	it, _ := ItemOf(c)
	c.JSON(http.StatusOK, it)
}

// downloadOriginal streams the original, re-hashing it on the way: a
// mismatch is logged and the connection is cut so a corrupted copy is
// never delivered as complete.
func (s *Server) downloadOriginal(c *gin.Context) {
	it, _ := ItemOf(c)
	d, err := storage.ParseDigest(it.SHA256)
	if err != nil {
		WriteError(c, err)
		return
	}
	if it.State == "purged" {
		WriteError(c, Coded(evidence.ErrGone, "purged", "the original was destroyed under the retention schedule"))
		return
	}
	// An original that failed fixity is served only on an explicit,
	// audited override, with a warning (it may not be what was ingested).
	override := slices.Contains(it.Flags, "fixity_failed")
	if override && c.Query("fixity_override") != "true" {
		WriteError(c, Coded(evidence.ErrConflict, "fixity_failed", "this original failed an integrity check; repeat with ?fixity_override=true to download it anyway (recorded in custody and audit)"))
		return
	}
	ref := storage.Ref{Namespace: storage.Originals, Digest: d}
	rc, err := s.deps.Storage.Open(c.Request.Context(), ref, 0, -1)
	if err != nil {
		WriteError(c, err)
		return
	}
	defer rc.Close()
	p, _ := Principal(c)
	if err := s.recordCustody(c, it, "original_downloaded", map[string]any{"source_addr": c.ClientIP(), "fixity_override": override}); err != nil {
		WriteError(c, err)
		return
	}
	if override {
		s.audit(c, AuditEvent{Type: "integrity_override", Actor: p.Actor(), Outcome: "success", Details: map[string]any{"evidence_id": it.ID.String()}})
		c.Header("Warning", `199 - "this original failed an integrity check: its bytes may not be the bytes ingested"`)
	}
	name := it.Filename
	if name == "" {
		name = it.SHA256
	}
	c.Header("Content-Disposition", `attachment; filename="`+strings.NewReplacer(`"`, "", "\n", "", "\r", "").Replace(name)+`"`)
	c.Header("Content-Length", strconv.FormatInt(it.Size, 10))
	c.Header("Digest", "sha-256="+it.SHA256)
	c.Status(http.StatusOK)
	c.Header("Content-Type", safeContentType(it.ContentType))
	// The tail is withheld until the whole original hashed right: an
	// altered original reaches the client as a short, failed download.
	if _, err := storage.CopyVerified(c.Writer, rc, d, it.Size); err != nil {
		if errors.Is(err, storage.ErrDigestMismatch) || errors.Is(err, storage.ErrSizeMismatch) {
			ctx := context.WithoutCancel(c.Request.Context())
			if s.deps.Custody != nil {
				details := map[string]any{"during": "download", "error": err.Error(), "sha256": it.SHA256}
				if rerr := s.deps.Custody.Record(ctx, it.ID, p.Actor(), "fixity_failed", details); rerr != nil {
					c.Error(rerr)
				}
			}
			s.audit(c, AuditEvent{Type: "integrity_failure", Actor: p.Actor(), Outcome: "failure", Details: map[string]any{"evidence_id": it.ID.String(), "error": err.Error()}})
		}
		c.Error(err)
		panic(http.ErrAbortHandler)
	}
}

// safeContentType keeps an uploaded original's media type only when no
// browser would run it as a script or page; anything else is served as
// application/octet-stream (downloads are attachments with nosniff too).
func safeContentType(ct string) string {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return "application/octet-stream"
	}
	if strings.HasPrefix(mt, "video/") || strings.HasPrefix(mt, "audio/") ||
		(strings.HasPrefix(mt, "image/") && mt != "image/svg+xml") {
		return mt
	}
	return "application/octet-stream"
}

// recordCustody appends an event to the item's chain of custody; an action
// that must be logged does not happen if the log cannot be written.
func (s *Server) recordCustody(c *gin.Context, it *evidence.Item, action string, details map[string]any) error {
	if s.deps.Custody == nil {
		return nil
	}
	p, _ := Principal(c)
	return s.deps.Custody.Record(c.Request.Context(), it.ID, p.Actor(), action, details)
}

// CodeRequest carries a second-factor code (TOTP or recovery code).
type CodeRequest struct {
	Code string `json:"code"`
}

// passMFA checks the second factor of a cookie session.
func (s *Server) passMFA(c *gin.Context) {
	p, _ := Principal(c)
	cookie, err := c.Cookie(SessionCookie)
	if err != nil || p.Kind != identity.KindUser {
		WriteError(c, evidence.Invalid("session", "only a web session passes a second factor"))
		return
	}
	var req CodeRequest
	if !Bind(c, &req) {
		return
	}
	if err := s.deps.Identity.VerifySessionSecondFactor(c.Request.Context(), cookie, p.ID, req.Code); err != nil {
		s.audit(c, AuditEvent{Type: "mfa_verify", Actor: p.Actor(), Outcome: "failure", Details: map[string]any{"reason": err.Error()}})
		if errors.Is(err, identity.ErrMFACode) || errors.Is(err, identity.ErrMFANotEnrolled) {
			WriteError(c, Coded(evidence.ErrUnauthenticated, "mfa_invalid", err.Error()))
			return
		}
		WriteError(c, err)
		return
	}
	if err := s.deps.Identity.MarkSessionMFA(c.Request.Context(), cookie); err != nil {
		WriteError(c, err)
		return
	}
	s.audit(c, AuditEvent{Type: "mfa_verify", Actor: p.Actor(), Outcome: "success"})
	c.JSON(http.StatusOK, MFAPassed{MFAPassed: true})
}

func (s *Server) enrollMFA(c *gin.Context) {
	p, _ := Principal(c)
	if p.Kind != identity.KindUser {
		WriteError(c, errForbidden)
		return
	}
	if m, ok := mfaOf(c); ok && m.enrolled && !m.passed {
		// Re-enrolling must not be a way around the factor one already has.
		WriteError(c, Coded(evidence.ErrPermission, "mfa_required", "pass your current second factor before enrolling a new one"))
		return
	}
	enr, err := s.deps.Identity.BeginTOTP(c.Request.Context(), p.ID, "OpenDEMS")
	if err != nil {
		WriteError(c, err)
		return
	}
	s.audit(c, AuditEvent{Type: "mfa_enrolment_started", Actor: p.Actor(), Outcome: "success"})
	c.JSON(http.StatusOK, enr)
}

func (s *Server) confirmMFA(c *gin.Context) {
	p, _ := Principal(c)
	if p.Kind != identity.KindUser {
		WriteError(c, errForbidden)
		return
	}
	var req CodeRequest
	if !Bind(c, &req) {
		return
	}
	codes, err := s.deps.Identity.ConfirmTOTP(c.Request.Context(), p.ID, req.Code)
	if err != nil {
		s.audit(c, AuditEvent{Type: "mfa_changed", Actor: p.Actor(), Outcome: "failure", Details: map[string]any{"reason": err.Error()}})
		if errors.Is(err, identity.ErrMFACode) || errors.Is(err, identity.ErrMFANotPending) {
			WriteError(c, Coded(evidence.ErrInvalid, "mfa_invalid", err.Error()))
			return
		}
		WriteError(c, err)
		return
	}
	if cookie, err := c.Cookie(SessionCookie); err == nil {
		s.deps.Identity.MarkSessionMFA(c.Request.Context(), cookie)
	}
	s.audit(c, AuditEvent{Type: "mfa_changed", Actor: p.Actor(), Outcome: "success", Details: map[string]any{"method": "totp"}})
	c.JSON(http.StatusOK, RecoveryCodes{RecoveryCodes: codes})
}
