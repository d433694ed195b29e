// Package api is the HTTP API of demsd (gin): authentication, the single
// authorization enforcement point, JSON errors, health, metrics, the OpenAPI
// description, identity administration and evidence reads. Other packages
// (ingest, custody, web) mount their own routes on the engine New returns;
// every route, whoever registers it, passes through the same middleware.
//
// # Request flow
//
//	request ─► recover, request log (no secrets), metrics
//	        ─► authenticate: "Authorization: Bearer <token>" (user or dock
//	           token) or the web session cookie; CSRF check for cookie
//	           requests that change state
//	        ─► authorize: the route's declared action (Routes table) is
//	           decided by the Authorizer (casbin policy); a route with no
//	           declared action is refused (fail closed), and a test walks
//	           the router so a new route without a decision fails CI
//	        ─► handler: item routes ask the Authorizer again with the item's
//	           attributes; an item the caller may not see answers 404, the
//	           same as a missing one (no IDOR oracle)
//
// Errors are {"error":{"code","message"}}; statuses are mapped in one place
// (errors.go) from the packages' typed errors.
package api
