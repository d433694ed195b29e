package api

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/opendems/opendems/evidence"
	"github.com/opendems/opendems/evidence/identity"
	"github.com/opendems/opendems/storage"
)

// Decision is an authorization answer with the rule that decided it.
type Decision struct {
	Allowed bool
	Rule    string
	Reason  string
}

// Authorizer is the policy as the enforcement point needs it (package
// policy implements it through an adapter wired in cmd/demsd). Only this
// package calls it: handlers ask through Can, Load and ListScope.
type Authorizer interface {
	// Authorize decides an action on a resource, or, with res nil, whether
	// p may take the action on anything at all (a route decision).
	Authorize(ctx context.Context, p identity.Principal, action string, res *evidence.Attributes) Decision
	// ListScope is what p may list.
	ListScope(ctx context.Context, p identity.Principal) evidence.Scope
	// Explain says why the policy decides as it does for subject (any
	// user, for those allowed to ask), with the rows that matched. Bad
	// input is an evidence.ErrInvalid.
	Explain(ctx context.Context, subject identity.Principal, action string, res *evidence.Attributes) (any, error)
}

// AuditEvent is a security-relevant event for the system audit log.
type AuditEvent struct {
	Type       string // e.g. logon, logoff, access_denied, user_created
	Actor      string // "user:amy", "dock:st-1", or the attempted username
	Outcome    string // success, failure, denied
	SourceAddr string
	Details    map[string]any
}

// Auditor records audit events. Recording must not fail a request that
// already happened, so it returns nothing; implementations log failures.
type Auditor interface {
	Audit(ctx context.Context, e AuditEvent)
}

// CustodyRecorder appends events to an item's chain of custody.
type CustodyRecorder interface {
	Record(ctx context.Context, evidenceID uuid.UUID, actor, action string, details map[string]any) error
}

// Options tune the API; zero values mean defaults.
type Options struct {
	SecureCookies bool
	SessionIdle   time.Duration
	SessionMax    time.Duration
	MaxJSONBody   int64
	// TrustedProxies (IPs or CIDRs) may set X-Forwarded-For / X-Real-IP;
	// empty trusts nobody: ClientIP is the TCP peer (what custody and
	// audit record).
	TrustedProxies []string
}

// Deps are what the API needs.
type Deps struct {
	DB         *pgxpool.Pool
	Identity   *identity.Store
	Evidence   *evidence.Store
	Storage    storage.Backend
	Authorizer Authorizer
	Auditor    Auditor
	Custody    CustodyRecorder
	Registry   *prometheus.Registry
	Options    Options
	// AfterAuth runs after authentication and before authorization on
	// every route (e.g. the audit log's record of administrator actions).
	AfterAuth []gin.HandlerFunc
}

// PageErrorWriter renders a refusal of the enforcement point on a web page
// (HTML, with the site's layout) instead of the JSON error.
type PageErrorWriter func(c *gin.Context, status int, message string)

// Server holds the API's dependencies and the gin engine.
type Server struct {
	deps      Deps
	engine    *gin.Engine
	access    map[string]Access
	docs      map[string]Route
	loaders   map[string]Loader
	pageError PageErrorWriter
	reqs      *prometheus.CounterVec
	lat       *prometheus.HistogramVec
}

// SessionCookie is the web session cookie's name.
const SessionCookie = "opendems_session"

// New builds the engine with the middleware chain and the API's own routes.
func New(d Deps) *Server {
	if d.Options.SessionIdle == 0 {
		d.Options.SessionIdle = 30 * time.Minute
	}
	if d.Options.SessionMax == 0 {
		d.Options.SessionMax = 12 * time.Hour
	}
	if d.Options.MaxJSONBody == 0 {
		d.Options.MaxJSONBody = 1 << 20
	}
	if d.Registry == nil {
		d.Registry = prometheus.NewRegistry()
	}
	gin.SetMode(gin.ReleaseMode)
	e := gin.New()
	e.HandleMethodNotAllowed = true
	// gin trusts every peer's forwarding headers unless told otherwise.
	if err := e.SetTrustedProxies(d.Options.TrustedProxies); err != nil {
		panic(fmt.Sprintf("api: trusted proxies: %v", err)) // configs.Validate checks them first
	}
	e.RedirectTrailingSlash = false
	s := &Server{deps: d, engine: e, access: map[string]Access{}, docs: map[string]Route{}, loaders: map[string]Loader{}}
	s.reqs = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "opendems_http_requests_total", Help: "HTTP requests by route and status."}, []string{"method", "route", "status"})
	s.lat = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "opendems_http_request_seconds", Help: "HTTP request latency.", Buckets: prometheus.DefBuckets}, []string{"method", "route"})
	d.Registry.MustRegister(s.reqs, s.lat)

	e.NoRoute(func(c *gin.Context) { WriteError(c, Coded(evidence.ErrNotFound, "not_found", "no such route")) })
	e.NoMethod(func(c *gin.Context) {
		c.AbortWithStatusJSON(http.StatusMethodNotAllowed, ErrorBody{Error: map[string]any{"code": "method_not_allowed", "message": "method not allowed"}})
	})
	e.Use(s.recover, s.observe, s.securityHeaders, s.bodyLimit, rejectNUL, s.authenticate)
	e.Use(d.AfterAuth...)
	e.Use(s.authorize)

	if d.Evidence != nil {
		s.RegisterLoader(KindItem, Loader{View: "evidence:view", Load: func(ctx context.Context, id uuid.UUID) (Loaded, error) {
			it, err := d.Evidence.Get(ctx, id)
			if err != nil {
				return nil, err
			}
			return &it, nil
		}})
	}
	s.Mount(s.routes()...)
	return s
}

// Engine returns the gin engine (for tests that list its routes; routes
// are added with Mount only).
func (s *Server) Engine() *gin.Engine { return s.engine }

// SetPageErrorWriter sets how refusals on web pages are rendered.
func (s *Server) SetPageErrorWriter(w PageErrorWriter) { s.pageError = w }

// fail answers a refusal or error of the enforcement point: JSON on API
// routes, the page error writer's HTML on pages.
func (s *Server) fail(c *gin.Context, err error) {
	if s.pageError != nil {
		if a, ok := s.RouteAccess(c.Request.Method, c.FullPath()); ok && a.Page {
			status, msg := StatusOf(err)
			s.pageError(c, status, msg)
			c.Abort()
			return
		}
	}
	WriteError(c, err)
}

// ServeHTTP lets the server be used as an http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.engine.ServeHTTP(w, r) }

func (s *Server) recover(c *gin.Context) {
	defer func() {
		if r := recover(); r != nil {
			if r == http.ErrAbortHandler {
				panic(r)
			}
			slog.ErrorContext(c.Request.Context(), "panic", "path", c.FullPath(), "panic", r)
			WriteError(c, errors.New("panic"))
		}
	}()
	c.Next()
}

func (s *Server) observe(c *gin.Context) {
	start := time.Now()
	c.Next()
	route := c.FullPath()
	if route == "" {
		route = "unmatched"
	}
	s.reqs.WithLabelValues(c.Request.Method, route, http.StatusText(c.Writer.Status())).Inc()
	s.lat.WithLabelValues(c.Request.Method, route).Observe(time.Since(start).Seconds())
	// The URL query is not logged: it may hold search terms about people.
	slog.DebugContext(c.Request.Context(), "http", "method", c.Request.Method, "route", route, "status", c.Writer.Status(), "dur", time.Since(start))
}

func (s *Server) securityHeaders(c *gin.Context) {
	h := c.Writer.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; media-src 'self'; style-src 'self'; script-src 'self'; frame-ancestors 'none'")
	h.Set("Cache-Control", "no-store")
	c.Next()
}

// bodyLimit tells Bind the JSON body limit of this server.
func (s *Server) bodyLimit(c *gin.Context) {
	c.Set(serverKey, s)
	limit := s.deps.Options.MaxJSONBody
	if a, ok := s.RouteAccess(c.Request.Method, c.FullPath()); ok && a.MaxBody > 0 && a.MaxBody < limit {
		limit = a.MaxBody
	}
	c.Set(bodyLimitKey, limit)
	c.Next()
}

// Principal returns the authenticated caller of a request.
func Principal(c *gin.Context) (identity.Principal, bool) {
	return identity.FromContext(c.Request.Context())
}

type ctxSession struct{}

type ctxMFA struct{}

// mfaState is the second-factor state of a cookie session.
type mfaState struct{ required, enrolled, passed bool }

func mfaOf(c *gin.Context) (mfaState, bool) {
	m, ok := c.Request.Context().Value(ctxMFA{}).(mfaState)
	return m, ok
}

// authenticate resolves the bearer token or session cookie. It never
// rejects by itself: authorize decides whether the route needs a principal.
func (s *Server) authenticate(c *gin.Context) {
	ctx := c.Request.Context()
	if h := c.GetHeader("Authorization"); h != "" {
		tok, ok := strings.CutPrefix(h, "Bearer ")
		if !ok || tok == "" {
			WriteError(c, Coded(evidence.ErrUnauthenticated, "unauthenticated", "Authorization header must be 'Bearer <token>'"))
			return
		}
		p, err := s.deps.Identity.Authenticate(ctx, strings.TrimSpace(tok))
		if err != nil {
			s.audit(c, AuditEvent{Type: "token_rejected", Actor: "anonymous", Outcome: "failure", Details: map[string]any{"reason": err.Error()}})
			WriteError(c, err)
			return
		}
		c.Request = c.Request.WithContext(identity.WithPrincipal(ctx, p))
		c.Next()
		return
	}
	if cookie, err := c.Cookie(SessionCookie); err == nil && cookie != "" {
		u, sess, err := s.deps.Identity.ResumeSession(ctx, cookie, s.deps.Options.SessionIdle)
		if err != nil {
			s.clearCookie(c)
			c.Next() // treated as anonymous; protected routes answer 401
			return
		}
		if c.Request.Method != http.MethodGet && c.Request.Method != http.MethodHead {
			sent := c.GetHeader("X-CSRF-Token")
			if sent == "" {
				sent = c.PostForm("csrf_token")
			}
			if subtle.ConstantTimeCompare([]byte(sent), []byte(sess.CSRFToken)) != 1 {
				WriteError(c, errCSRF)
				return
			}
		}
		ctx = identity.WithPrincipal(ctx, u.Principal("session"))
		ctx = context.WithValue(ctx, ctxSession{}, sess)
		ctx = context.WithValue(ctx, ctxMFA{}, mfaState{required: identity.MFARequiredRoles[u.Role] || u.MFAEnrolled, enrolled: u.MFAEnrolled, passed: sess.MFAPassed})
		c.Request = c.Request.WithContext(ctx)
	}
	c.Next()
}

// SessionOf returns the web session of a cookie-authenticated request.
func SessionOf(c *gin.Context) (identity.Session, bool) {
	s, ok := c.Request.Context().Value(ctxSession{}).(identity.Session)
	return s, ok
}

// authorize is the single enforcement point: the route's declared access
// is checked, and its resources loaded and decided, before any handler runs.
func (s *Server) authorize(c *gin.Context) {
	route := c.FullPath()
	if route == "" { // NoRoute / NoMethod
		c.Next()
		return
	}
	access, ok := s.RouteAccess(c.Request.Method, route)
	if !ok {
		slog.ErrorContext(c.Request.Context(), "route has no declared access; refusing", "method", c.Request.Method, "route", route)
		WriteError(c, Coded(evidence.ErrPermission, "forbidden", "route has no access rule"))
		return
	}
	if access.Public {
		c.Next()
		return
	}
	p, ok := Principal(c)
	_, session := SessionOf(c)
	if access.Page && (!ok || p.Kind != identity.KindUser || !session) {
		// Pages take the session cookie only; anyone else logs in first
		// and comes back.
		c.Redirect(http.StatusSeeOther, "/login?next="+url.QueryEscape(c.Request.URL.RequestURI()))
		c.Abort()
		return
	}
	if !ok {
		WriteError(c, errUnauthenticated)
		return
	}
	if m, ok := mfaOf(c); ok && m.required && !m.passed && !access.MFAExempt {
		if access.Page {
			c.Redirect(http.StatusSeeOther, "/mfa?next="+url.QueryEscape(c.Request.URL.RequestURI()))
			c.Abort()
			return
		}
		msg := "this session must pass the second factor first (POST /api/v1/session/mfa)"
		if !m.enrolled {
			msg = "your role requires a second factor: enrol one first (POST /api/v1/me/mfa/enroll)"
		}
		WriteError(c, Coded(evidence.ErrPermission, "mfa_required", msg))
		return
	}
	if access.Action == "" { // any authenticated principal
		c.Next()
		return
	}
	if access.Resource != "" {
		if !s.loadParam(c, access.Resource, access.Param, access.Action) {
			return
		}
	} else {
		d := s.deps.Authorizer.Authorize(c.Request.Context(), p, access.Action, nil)
		if !d.Allowed {
			s.audit(c, AuditEvent{Type: "access_denied", Actor: p.Actor(), Outcome: "denied", Details: map[string]any{
				"action": access.Action, "route": c.Request.Method + " " + route, "rule": d.Rule, "reason": d.Reason}})
			s.fail(c, errForbidden)
			return
		}
	}
	for _, n := range access.Also {
		if !s.loadParam(c, n.Resource, n.Param, n.Action) {
			return
		}
	}
	c.Next()
}

func (s *Server) audit(c *gin.Context, e AuditEvent) {
	if s.deps.Auditor == nil {
		return
	}
	e.SourceAddr = c.ClientIP()
	s.deps.Auditor.Audit(c.Request.Context(), e)
}

func (s *Server) healthz(c *gin.Context) {
	ctx, cancel := context.WithTimeout(c.Request.Context(), 5*time.Second)
	defer cancel()
	status := Health{Status: "ok", Database: "ok", Storage: "ok"}
	code := http.StatusOK
	if err := s.deps.DB.Ping(ctx); err != nil {
		status.Database, status.Status, code = "unavailable", "degraded", http.StatusServiceUnavailable
	}
	if s.deps.Storage != nil {
		if err := s.deps.Storage.Check(ctx); err != nil {
			status.Storage, status.Status, code = "unavailable", "degraded", http.StatusServiceUnavailable
		}
	}
	c.JSON(code, status)
}

// routes is the API's own part of the route table.
func (s *Server) routes() []Route {
	pub := func(summary string) Access { return Access{Public: true, Summary: summary} }
	return []Route{
		{Method: "GET", Path: "/healthz", Access: pub("Liveness and dependency health"), Handler: s.healthz, Op: "health", Out: Health{}, Also: []int{http.StatusServiceUnavailable}},
		{Method: "GET", Path: "/metrics", Access: pub("Prometheus metrics"), Handler: gin.WrapH(promhttp.HandlerFor(s.deps.Registry, promhttp.HandlerOpts{})), Op: "metrics", OutContent: "text/plain"},
		{Method: "GET", Path: "/api/v1/openapi.json", Access: pub("This API description"), Handler: s.openapi, Op: "openAPIDocument", Out: map[string]any{}},

		{Method: "POST", Path: "/api/v1/session", Access: pub("Log in (JSON) and receive a session cookie"), Handler: s.login, Op: "login", In: LoginRequest{}, Out: LoginAnswer{}},
		{Method: "DELETE", Path: "/api/v1/session", Access: Access{Summary: "Log out", MFAExempt: true}, Handler: s.logout, Op: "logout", Status: http.StatusNoContent},
		{Method: "GET", Path: "/api/v1/me", Access: Access{Summary: "The caller's identity", MFAExempt: true}, Handler: s.me, Op: "getMe", Out: Me{}},
		{Method: "POST", Path: "/api/v1/me/tokens", Access: Access{Summary: "Create a personal API token (expiry capped by server.token_max_lifetime)"}, Handler: s.createMyToken, Op: "createMyToken", In: TokenRequest{}, Out: CreatedToken{}, Status: http.StatusCreated},
		{Method: "GET", Path: "/api/v1/me/tokens", Access: Access{Summary: "List the caller's personal API tokens"}, Handler: s.listMyTokens, Op: "listMyTokens", Out: TokenList{}},
		{Method: "DELETE", Path: "/api/v1/me/tokens/:id", Access: Access{Summary: "Revoke one of the caller's personal API tokens"}, Handler: s.revokeMyToken, Op: "revokeMyToken", Status: http.StatusNoContent},
		{Method: "POST", Path: "/api/v1/session/mfa", Access: Access{Summary: "Pass the second factor (TOTP or recovery code) for this session", MFAExempt: true}, Handler: s.passMFA, Op: "passMFA", In: CodeRequest{}, Out: MFAPassed{}},
		{Method: "POST", Path: "/api/v1/me/mfa/enroll", Access: Access{Summary: "Start TOTP enrolment (returns the secret and otpauth URL)", MFAExempt: true}, Handler: s.enrollMFA, Op: "enrollMFA", Out: identity.TOTPEnrollment{}},
		{Method: "POST", Path: "/api/v1/me/mfa/confirm", Access: Access{Summary: "Confirm TOTP enrolment with a code; returns recovery codes once", MFAExempt: true}, Handler: s.confirmMFA, Op: "confirmMFA", In: CodeRequest{}, Out: RecoveryCodes{}},

		{Method: "GET", Path: "/api/v1/units", Access: Access{Action: "admin:units", Summary: "List units"}, Handler: s.listUnits, Op: "listUnits", Out: UnitList{}},
		{Method: "POST", Path: "/api/v1/units", Access: Access{Action: "admin:units", Summary: "Create a unit"}, Handler: s.createUnit, Op: "createUnit", In: UnitRequest{}, Out: identity.Unit{}, Status: http.StatusCreated},
		{Method: "GET", Path: "/api/v1/users", Access: Access{Action: "admin:users", Summary: "List users"}, Handler: s.listUsers, Op: "listUsers", Out: UserList{}},
		{Method: "POST", Path: "/api/v1/users", Access: Access{Action: "admin:users", Summary: "Create a user"}, Handler: s.createUser, Op: "createUser", In: identity.NewUser{}, Out: identity.User{}, Status: http.StatusCreated},
		{Method: "GET", Path: "/api/v1/users/:id", Access: Access{Action: "admin:users", Summary: "Get a user"}, Handler: s.getUser, Op: "getUser", Out: identity.User{}},
		{Method: "PATCH", Path: "/api/v1/users/:id", Access: Access{Action: "admin:users", Summary: "Change a user's password, role or unit, or disable/enable them"}, Handler: s.updateUser, Op: "updateUser", In: UserPatch{}, Out: identity.User{}},
		{Method: "GET", Path: "/api/v1/docks", Access: Access{Action: "admin:docks", Summary: "List docking stations"}, Handler: s.listDocks, Op: "listDocks", Out: DockList{}},
		{Method: "POST", Path: "/api/v1/docks", Access: Access{Action: "admin:docks", Summary: "Enroll a docking station (returns its token once)"}, Handler: s.enrollDock, Op: "enrollDock", In: DockRequest{}, Out: EnrolledDock{}, Status: http.StatusCreated},
		{Method: "POST", Path: "/api/v1/docks/:id/revoke", Access: Access{Action: "admin:docks", Summary: "Revoke a docking station"}, Handler: s.revokeDock, Op: "revokeDock", Out: identity.Dock{}},

		{Method: "GET", Path: "/api/v1/evidence", Access: Access{Action: "evidence:list", Summary: "Search evidence (filters as query parameters, paginated)"}, Handler: s.listEvidence, Op: "listEvidence", Query: EvidenceQuery{}, Out: evidence.Page{}},
		{Method: "GET", Path: "/api/v1/evidence/:id", Access: Access{Action: "evidence:view", Resource: KindItem, Summary: "One evidence item"}, Handler: s.getEvidence, Op: "getEvidence", Out: evidence.Item{}},
		{Method: "GET", Path: "/api/v1/evidence/:id/original", Access: Access{Action: "evidence:download", Resource: KindItem, Summary: "Download the original (logged in custody)"}, Handler: s.downloadOriginal, Op: "downloadOriginal", Query: OriginalQuery{}, OutContent: "video/*, audio/*, image/*, application/octet-stream"},
	}
}
