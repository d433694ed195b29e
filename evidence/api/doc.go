// Package api is the one HTTP kit of demsd (gin): the route table, the
// single authorization enforcement point, resource loaders, the JSON
// binder, the error writer, authentication, health, metrics, the OpenAPI
// description, identity administration and evidence reads. Every other
// package (ingest, custody, audit, review, retention, web) declares its
// routes as a []Route and cmd/demsd mounts them with Server.Mount; nothing
// registers on the gin engine any other way.
//
// # Request flow
//
//	request ─► recover, metrics, security headers, body limit
//	        ─► authenticate: "Authorization: Bearer <token>" (user or dock
//	           token) or the web session cookie; CSRF check for cookie
//	           requests that change state
//	        ─► authorize (the enforcement point), from the route's Access:
//	           Public routes pass; pages (Access.Page) send anyone without
//	           a web session to /login and a session owing its second
//	           factor to /mfa; Action is decided by the Authorizer, on the
//	           resource named by the path (Access.Resource, loaded by the
//	           kind's Loader) and on any Access.Also resources. Denied: 403
//	           if the caller may see the resource, else 404 exactly like a
//	           missing one (no IDOR oracle); every denial is audited.
//	        ─► handler: receives the loaded, authorized resource
//	           (ItemOf, ResourceOf[T](c, kind)); reads JSON with Bind;
//	           answers errors with WriteError
//
// Only this package calls the Authorizer (and through it casbin).
// Handlers that must decide more (a second object named in the body, the
// state an item would have after a change, which controls a page shows)
// ask through Load, TryLoad, Can, Deny, ListScope and Explain, which use
// the same decisions and audit the same way.
//
// # Errors
//
// Packages return errors of the kinds in the evidence root
// (evidence.ErrNotFound, ErrInvalid, ErrConflict, ErrGone, ErrPermission,
// ErrUnauthenticated, ErrUnavailable, ErrTooLarge, ErrUnsupported,
// ErrRateLimited, ErrIntegrity), wrapped with fmt.Errorf("%w") or built
// with evidence.E / &evidence.Error{Kind, Code, Msg, Detail}. WriteError
// is the one writer: it maps each kind to one status (kindStatus) and
// answers {"error":{"code","message", ...Detail}}; errors without a kind
// are logged and answered 500 "internal" without internals. The ingest
// protocol's *wire.Error keeps its own codes and statuses (its contract
// with docking stations), written by the same writer.
//
// # JSON bodies
//
// Bind (BindOptional for optional bodies) is the one binder: body limit
// (Options.MaxJSONBody, lowered per route by Access.MaxBody) → 413,
// Content-Type other than application/json → 415, malformed JSON,
// trailing data or an unknown field → 400 malformed_json, a NUL byte in
// any string → 400 invalid.
//
// # Adding a resource kind (request, release, share, …)
//
// The package that owns the resource makes its type implement Loaded
// (Attributes: kind, id, unit and what else the policy looks at) and
// offers a Loader; cmd/demsd registers it before mounting routes:
//
//	// in evidence/request
//	func (r *Request) Attributes() evidence.Attributes {
//		return evidence.Attributes{Kind: "request", ID: r.ID.String(), UnitPath: r.UnitPath}
//	}
//	func (s *Service) Loader() api.Loader {
//		return api.Loader{View: "request:read", Load: func(ctx context.Context, id uuid.UUID) (api.Loaded, error) {
//			r, err := s.Get(ctx, id) // evidence.ErrNotFound when missing
//			if err != nil {
//				return nil, err
//			}
//			return &r, nil
//		}}
//	}
//	func RequestOf(c *gin.Context) (*Request, bool) { return api.ResourceOf[*Request](c, "request") }
//
//	// routes: access, handler, and what the OpenAPI description says
//	{Method: "GET", Path: "/api/v1/requests/:id", Access: api.Access{Action: "request:read", Resource: "request"}, Handler: s.get,
//		Op: "getRequest", Out: RequestView{}}
//
//	// cmd/demsd
//	a.API.RegisterLoader("request", requests.Loader())
//	a.API.Mount(requests.Routes()...)
//
// # The OpenAPI description
//
// Every route declares its operationId (Route.Op, stable: clients are
// generated with a method of that name), its JSON body (In), query and
// header parameters (Query), its answer (Out, the Go type the handler
// writes; OutContent for pages and downloads) and success status.
// Document reflects them into OpenAPI 3.1 (schema.go: JSON Schema 2020-12
// as encoding/json writes the types), served at /api/v1/openapi.json.
// cmd/demsd's tests validate every answer of the real handlers against it
// and keep the committed copy (apiclient/openapi.json, from which the Go
// client is generated) and the golden list of operationIds current.
//
// The policy (package policy, through cmd/demsd's Authorizer adapter)
// decides on the Attributes; add the kind's actions to the vocabulary and
// rows to configs/policy/access_policy.csv. Public pages (e.g. share
// links) are Access{Public: true}; anything else needs an Action. Add the
// new routes to the role × route table test (cmd/demsd/internal/server/
// routes_test.go), which fails for a mounted route it does not know.
package api
