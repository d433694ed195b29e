package api

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/opendems/opendems/evidence"
	"github.com/opendems/opendems/evidence/identity"
)

// Resource kinds the enforcement point loads before handlers. A package
// adds a kind by registering its loader (Server.RegisterLoader).
const (
	KindItem = "item"
	KindCase = "case"
)

// Route is one route of demsd, API or web page: method, path, who may
// call it, and the handler. Every package declares its routes as a
// []Route and cmd mounts them with Server.Mount; nothing is registered on
// the engine any other way, so the access table and the router cannot
// disagree.
type Route struct {
	Method  string
	Path    string
	Access  Access
	Handler gin.HandlerFunc

	// The route as the OpenAPI description shows it (GET
	// /api/v1/openapi.json); a test fails for a route without Op, and
	// for a JSON route whose real answers do not match Out.

	// Op is the route's operationId, lowerCamelCase and stable: clients
	// are generated with a method of this name, so it is never renamed
	// or reused (a golden list in cmd/demsd's tests holds every one).
	Op string
	// In is the JSON request body: a zero value of the type the handler
	// binds (nil: no body). Form pages and uploads declare InContent.
	In any
	// InOptional: the body may be left out (the handler uses BindOptional).
	InOptional bool
	// InContent is the media type of a body that is not JSON
	// (application/octet-stream for an upload chunk,
	// application/x-www-form-urlencoded for a page's form).
	InContent string
	// Query is a struct whose `form` tags name the query parameters
	// (`doc` tags describe them, binding:"required" requires them).
	Query any
	// Out is the JSON body of a successful answer: a zero value of the
	// type the handler writes. Nil with OutContent empty: no body.
	Out any
	// OutContent lists the media types (comma separated) of a successful
	// answer that is not JSON: text/html (pages), application/zip,
	// video/mp4, image/jpeg, application/x-ndjson, text/csv; with Out
	// set too, the route answers either (e.g. ?format=csv).
	OutContent string
	// Status is the status of a successful answer (200 when 0); Also
	// lists further success statuses with the same body (201 for an
	// upload session created rather than resumed, 206 for a Range).
	Status int
	Also   []int
	// Accepted, when set, is the JSON body of a 202 answer: an operation
	// acknowledged and finished later, its outcome polled on another
	// route (ingest's commit with Prefer: respond-async).
	Accepted any
}

// Access declares how a route is authorized.
type Access struct {
	// Public routes need no authentication (health, metrics, login, public
	// keys, static assets, the OpenAPI description).
	Public bool
	// Action is the policy action decided for the route. Empty on a
	// non-public route means "any authenticated principal" (own profile,
	// logout, the dashboard).
	Action string
	// Resource is the kind of resource named by the path parameter Param
	// ("id" when empty). The enforcement point loads it with the kind's
	// registered loader and decides Action on it; the handler receives it
	// loaded and authorized (ResourceOf, ItemOf). A caller denied who may
	// not even see the resource gets 404, exactly like a missing one.
	Resource string
	Param    string
	// Also lists further resources of the path the caller must hold an
	// action on (e.g. the case of DELETE /evidence/:id/cases/:case).
	Also []Need
	// Page routes are web pages: an anonymous caller is sent to the login
	// page, a bearer token is refused (pages take the session cookie
	// only), and refusals are rendered by the page error writer.
	Page bool
	// MFAExempt routes stay reachable from a web session that has not yet
	// passed its required second factor (to pass or enrol it, or leave).
	MFAExempt bool
	// MaxBody lowers the JSON body limit for this route (0: the server's).
	MaxBody int64
	// Summary documents the route in the OpenAPI description.
	Summary string
}

// Need is one more resource of a route's path and the action required on it.
type Need struct {
	Resource string
	Param    string
	Action   string
}

// Item reports whether the route is decided on an evidence item.
func (a Access) Item() bool { return a.Resource == KindItem }

// Loaded is a resource a loader returns: what the policy decides on.
type Loaded interface {
	Attributes() evidence.Attributes
}

// Loader loads one kind of resource for the enforcement point.
type Loader struct {
	// Load returns the resource named id; evidence.ErrNotFound when none.
	Load func(ctx context.Context, id uuid.UUID) (Loaded, error)
	// View is the action that lets a caller know the resource exists; a
	// caller refused the route's action who may not View it either is
	// answered 404, like a missing resource (no IDOR oracle).
	View string
}

// RegisterLoader makes a resource kind loadable by routes (Access.Resource)
// and by Load. Call it while wiring, before serving.
func (s *Server) RegisterLoader(kind string, l Loader) {
	if l.Load == nil || l.View == "" {
		panic(fmt.Sprintf("api: loader %q needs Load and View", kind))
	}
	s.loaders[kind] = l
}

// Mount declares and registers routes. A route mounted twice, or one
// naming a resource kind without a loader, is a wiring bug: Mount panics
// so the server does not start with it.
func (s *Server) Mount(routes ...Route) {
	for _, r := range routes {
		key := r.Method + " " + r.Path
		if _, dup := s.access[key]; dup {
			panic("api: route mounted twice: " + key)
		}
		for _, kind := range r.Access.kinds() {
			if _, ok := s.loaders[kind]; !ok {
				panic(fmt.Sprintf("api: route %s needs a %q loader; register it before mounting", key, kind))
			}
		}
		s.access[key] = r.Access
		doc := r
		doc.Handler = nil
		s.docs[key] = doc
		s.engine.Handle(r.Method, r.Path, r.Handler)
	}
}

func (a Access) kinds() []string {
	var out []string
	if a.Resource != "" {
		out = append(out, a.Resource)
	}
	for _, n := range a.Also {
		out = append(out, n.Resource)
	}
	return out
}

// RouteAccess returns the declared access of a route pattern.
func (s *Server) RouteAccess(method, route string) (Access, bool) {
	a, ok := s.access[method+" "+route]
	return a, ok
}

// DeclaredRoutes lists every declared route key, sorted.
func (s *Server) DeclaredRoutes() []string {
	keys := make([]string, 0, len(s.access))
	for k := range s.access {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func resourceKey(kind string) string { return "api.resource." + kind }

// ResourceOf returns the resource of a kind the enforcement point loaded
// and authorized for this request (from the route's path or Load).
func ResourceOf[T Loaded](c *gin.Context, kind string) (T, bool) {
	var zero T
	v, ok := c.Get(resourceKey(kind))
	if !ok {
		return zero, false
	}
	r, ok := v.(T)
	return r, ok
}

// ItemOf returns the evidence item the enforcement point loaded and
// authorized for an item route.
func ItemOf(c *gin.Context) (*evidence.Item, bool) {
	return ResourceOf[*evidence.Item](c, KindItem)
}

// loadAndDecide loads the resource of a kind named by id and decides
// action on it. A refusal is audited; the error answers 404 when the
// caller may not even see the resource, 403 otherwise.
func (s *Server) loadAndDecide(c *gin.Context, kind string, id uuid.UUID, action string) (Loaded, error) {
	l, ok := s.loaders[kind]
	if !ok {
		return nil, fmt.Errorf("api: no loader for %q", kind)
	}
	res, err := l.Load(c.Request.Context(), id)
	if err != nil {
		return nil, err
	}
	attrs := res.Attributes()
	p, _ := Principal(c)
	d := s.deps.Authorizer.Authorize(c.Request.Context(), p, action, &attrs)
	if !d.Allowed {
		s.audit(c, AuditEvent{Type: "access_denied", Actor: p.Actor(), Outcome: "denied", Details: map[string]any{
			"action": action, idKey(attrs.Kind): attrs.ID, "rule": d.Rule, "reason": d.Reason}})
		if action != l.View && s.deps.Authorizer.Authorize(c.Request.Context(), p, l.View, &attrs).Allowed {
			return nil, errForbidden
		}
		return nil, errNotFound
	}
	c.Set(resourceKey(kind), res)
	return res, nil
}

// loadParam loads a kind from a path parameter; a malformed id is a
// missing resource.
func (s *Server) loadParam(c *gin.Context, kind, param, action string) bool {
	if param == "" {
		param = "id"
	}
	id, err := uuid.Parse(c.Param(param))
	if err != nil {
		s.fail(c, errNotFound)
		return false
	}
	if _, err := s.loadAndDecide(c, kind, id, action); err != nil {
		s.fail(c, err)
		return false
	}
	return true
}

const serverKey = "api.server"

func serverOf(c *gin.Context) *Server {
	s, _ := c.Get(serverKey)
	srv, _ := s.(*Server)
	return srv
}

// Load loads and authorizes a resource a handler learns of from the body
// (e.g. the case an item is added to), through the same loader and
// decision as the route table's; later ResourceOf finds it. Denied or
// missing, it writes the answer (404 or 403 as for routes) and returns
// false.
func Load[T Loaded](c *gin.Context, kind string, id uuid.UUID, action string) (T, bool) {
	t, err := TryLoad[T](c, kind, id, action)
	if err != nil {
		if s := serverOf(c); s != nil {
			s.fail(c, err)
		} else {
			WriteError(c, err)
		}
		return t, false
	}
	return t, true
}

// TryLoad is Load for handlers that answer refusals themselves (a form
// page re-rendered with the message): it returns the error instead
// (evidence.ErrNotFound when the caller may not see the resource,
// evidence.ErrPermission when they see it and may not act).
func TryLoad[T Loaded](c *gin.Context, kind string, id uuid.UUID, action string) (T, error) {
	var zero T
	s := serverOf(c)
	if s == nil {
		return zero, errors.New("api: Load outside the enforcement point")
	}
	res, err := s.loadAndDecide(c, kind, id, action)
	if err != nil {
		return zero, err
	}
	t, ok := res.(T)
	if !ok {
		return zero, fmt.Errorf("api: loader %q returned %T", kind, res)
	}
	return t, nil
}

// Can reports whether the caller may take action, on res when given (nil:
// the route-level question "may they do this to anything?"). Pages and
// handlers use it to show only controls that will work and to decide on a
// resource's state after a change (e.g. the categories an item would
// have); it is the enforcement point's decision, never the policy's
// directly.
func Can(c *gin.Context, action string, res *evidence.Attributes) bool {
	s := serverOf(c)
	p, ok := Principal(c)
	if s == nil || !ok {
		return false
	}
	return s.deps.Authorizer.Authorize(c.Request.Context(), p, action, res).Allowed
}

// Deny records a refusal a handler decided with Can and answers 403.
func Deny(c *gin.Context, action string, res *evidence.Attributes, msg string) {
	s := serverOf(c)
	p, _ := Principal(c)
	details := map[string]any{"action": action, "route": c.Request.Method + " " + c.FullPath()}
	if res != nil {
		details[idKey(res.Kind)] = res.ID
	}
	if s != nil {
		s.audit(c, AuditEvent{Type: "access_denied", Actor: p.Actor(), Outcome: "denied", Details: details})
		s.fail(c, &evidence.Error{Kind: evidence.ErrPermission, Msg: msg})
		return
	}
	WriteError(c, &evidence.Error{Kind: evidence.ErrPermission, Msg: msg})
}

// ListScope is what the caller may list (the policy's SQL pre-filter).
func ListScope(c *gin.Context) evidence.Scope {
	s := serverOf(c)
	p, ok := Principal(c)
	if s == nil || !ok {
		return evidence.Scope{}
	}
	return s.deps.Authorizer.ListScope(c.Request.Context(), p)
}

// Explain asks the policy why it decides action for subject (on res, when
// given). The route serving it must itself be authorized (policy:explain).
func Explain(c *gin.Context, subject identity.Principal, action string, res *evidence.Attributes) (any, error) {
	s := serverOf(c)
	if s == nil {
		return nil, errors.New("api: Explain outside the enforcement point")
	}
	return s.deps.Authorizer.Explain(c.Request.Context(), subject, action, res)
}

// idKey names a resource's id in audit details: evidence_id, case_id, …
func idKey(kind string) string { return kind + "_id" }
