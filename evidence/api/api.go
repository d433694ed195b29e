package api

import (
	"context"
	"crypto/subtle"
	"log/slog"
	"net/http"
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

// Authorizer is the policy as the API needs it (package policy implements
// it through an adapter wired in cmd/demsd).
type Authorizer interface {
	// AuthorizeRoute decides an action that is not about one item.
	AuthorizeRoute(ctx context.Context, p identity.Principal, action string) Decision
	// AuthorizeItem decides an action on one item.
	AuthorizeItem(ctx context.Context, p identity.Principal, action string, it *evidence.Item) Decision
	// ListScope is what p may list.
	ListScope(ctx context.Context, p identity.Principal) evidence.Scope
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

// Server holds the API's dependencies and the gin engine.
type Server struct {
	deps   Deps
	engine *gin.Engine
	access map[string]Access
	reqs   *prometheus.CounterVec
	lat    *prometheus.HistogramVec
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
	e.RedirectTrailingSlash = false
	s := &Server{deps: d, engine: e, access: defaultAccess()}
	s.reqs = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "opendems_http_requests_total", Help: "HTTP requests by route and status."}, []string{"method", "route", "status"})
	s.lat = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "opendems_http_request_seconds", Help: "HTTP request latency.", Buckets: prometheus.DefBuckets}, []string{"method", "route"})
	d.Registry.MustRegister(s.reqs, s.lat)

	e.NoRoute(func(c *gin.Context) { WriteError(c, Errorf(http.StatusNotFound, "not_found", "no such route")) })
	e.NoMethod(func(c *gin.Context) {
		WriteError(c, Errorf(http.StatusMethodNotAllowed, "method_not_allowed", "method not allowed"))
	})
	e.Use(s.recover, s.observe, s.securityHeaders, s.authenticate)
	e.Use(d.AfterAuth...)
	e.Use(s.authorize)

	e.GET("/healthz", s.healthz)
	e.GET("/metrics", gin.WrapH(promhttp.HandlerFor(d.Registry, promhttp.HandlerOpts{})))
	e.GET("/api/v1/openapi.json", s.openapi)

	v1 := e.Group("/api/v1")
	v1.POST("/session", s.login)
	v1.DELETE("/session", s.logout)
	v1.GET("/me", s.me)
	v1.POST("/me/tokens", s.createMyToken)
	v1.POST("/session/mfa", s.passMFA)
	v1.POST("/me/mfa/enroll", s.enrollMFA)
	v1.POST("/me/mfa/confirm", s.confirmMFA)

	v1.GET("/units", s.listUnits)
	v1.POST("/units", s.createUnit)
	v1.GET("/users", s.listUsers)
	v1.POST("/users", s.createUser)
	v1.GET("/users/:id", s.getUser)
	v1.PATCH("/users/:id", s.updateUser)
	v1.POST("/users/:id/tokens", s.createUserToken)
	v1.GET("/docks", s.listDocks)
	v1.POST("/docks", s.enrollDock)
	v1.POST("/docks/:id/revoke", s.revokeDock)

	v1.GET("/evidence", s.listEvidence)
	v1.GET("/evidence/:id", s.getEvidence)
	v1.GET("/evidence/:id/original", s.downloadOriginal)
	return s
}

// Engine returns the gin engine so other packages can mount their routes.
func (s *Server) Engine() *gin.Engine { return s.engine }

// ServeHTTP lets the server be used as an http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.engine.ServeHTTP(w, r) }

func (s *Server) recover(c *gin.Context) {
	defer func() {
		if r := recover(); r != nil {
			if r == http.ErrAbortHandler {
				panic(r)
			}
			slog.ErrorContext(c.Request.Context(), "panic", "path", c.FullPath(), "panic", r)
			WriteError(c, Errorf(http.StatusInternalServerError, "internal", "internal error"))
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
			WriteError(c, Errorf(http.StatusUnauthorized, "unauthenticated", "Authorization header must be 'Bearer <token>'"))
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
// is checked before any handler runs.
func (s *Server) authorize(c *gin.Context) {
	route := c.FullPath()
	if route == "" { // NoRoute / NoMethod
		c.Next()
		return
	}
	access, ok := s.RouteAccess(c.Request.Method, route)
	if !ok {
		slog.ErrorContext(c.Request.Context(), "route has no declared access; refusing", "method", c.Request.Method, "route", route)
		WriteError(c, Errorf(http.StatusForbidden, "forbidden", "route has no access rule"))
		return
	}
	if access.Public {
		c.Next()
		return
	}
	p, ok := Principal(c)
	if !ok {
		WriteError(c, errUnauthenticated)
		return
	}
	if m, ok := mfaOf(c); ok && m.required && !m.passed && !access.MFAExempt {
		msg := "this session must pass the second factor first (POST /api/v1/session/mfa)"
		if !m.enrolled {
			msg = "your role requires a second factor: enrol one first (POST /api/v1/me/mfa/enroll)"
		}
		WriteError(c, Errorf(http.StatusForbidden, "mfa_required", msg))
		return
	}
	if access.Action == "" { // any authenticated principal
		c.Next()
		return
	}
	if access.Item {
		if !s.loadItem(c, access.Action) {
			return
		}
		c.Next()
		return
	}
	d := s.deps.Authorizer.AuthorizeRoute(c.Request.Context(), p, access.Action)
	if !d.Allowed {
		s.audit(c, AuditEvent{Type: "access_denied", Actor: p.Actor(), Outcome: "denied", Details: map[string]any{
			"action": access.Action, "route": c.Request.Method + " " + route, "rule": d.Rule, "reason": d.Reason}})
		WriteError(c, errForbidden)
		return
	}
	c.Next()
}

// AuthorizeItem checks an item-level action for the handler. When it is
// denied the item is reported missing (404) unless the caller may at least
// view it, so ids of other units' items cannot be probed. It writes the
// error and returns false when denied.
func (s *Server) AuthorizeItem(c *gin.Context, action string, it *evidence.Item) bool {
	p, _ := Principal(c)
	d := s.deps.Authorizer.AuthorizeItem(c.Request.Context(), p, action, it)
	if d.Allowed {
		return true
	}
	s.audit(c, AuditEvent{Type: "access_denied", Actor: p.Actor(), Outcome: "denied", Details: map[string]any{
		"action": action, "evidence_id": it.ID.String(), "rule": d.Rule, "reason": d.Reason}})
	if action != "evidence:view" && s.deps.Authorizer.AuthorizeItem(c.Request.Context(), p, "evidence:view", it).Allowed {
		WriteError(c, errForbidden)
		return false
	}
	WriteError(c, Errorf(http.StatusNotFound, "not_found", "not found"))
	return false
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
	status := gin.H{"status": "ok", "database": "ok", "storage": "ok"}
	code := http.StatusOK
	if err := s.deps.DB.Ping(ctx); err != nil {
		status["database"], status["status"], code = "unavailable", "degraded", http.StatusServiceUnavailable
	}
	if s.deps.Storage != nil {
		if err := s.deps.Storage.Check(ctx); err != nil {
			status["storage"], status["status"], code = "unavailable", "degraded", http.StatusServiceUnavailable
		}
	}
	c.JSON(code, status)
}
