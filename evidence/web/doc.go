// Package web is the supervisors' and administrators' browser UI:
// server-rendered html/template pages with a small vanilla JavaScript file
// and one stylesheet, all embedded with go:embed (no CDN; it works on an
// air-gapped network).
//
// Pages: login (with a double-submit CSRF cookie, since there is no
// session yet) and logout; a dashboard (new footage of the user's unit,
// flagged items, items whose proxy failed); evidence search (officer,
// device, unit, dates, category, case, tag, flagged, free text; sortable
// and paginated through evidence.Store.List with the caller's policy
// scope); the evidence page (player with the thumbnail sprite as a
// clickable timeline, metadata, markers, tags, category, retention and
// legal hold, custody timeline, transcode progress); cases; admin pages
// for users, units and docks (identity.Store); and the retention (schedule
// in force, upcoming purges, cancel) and legal holds (list, place on an
// item, release) admin pages, which reach evidence/retention through the
// RetentionAdmin and PurgeLister interfaces that cmd/demsd adapts (this
// package does not import the retention package).
//
// Data flow: pages are declared Public on the API's enforcement point so
// that an anonymous visitor is redirected to the login page (and a denied
// item answers an HTML 404) rather than a JSON error; every page then
// requires a session principal itself and asks the same api.Authorizer the
// API uses for each decision (list scope, item actions, admin actions).
// State-changing form posts carry the session's CSRF token, which the API
// middleware checks for every cookie request. Changes made from the
// evidence page (markers, tags, category, cases, holds) go through the
// review API routes with the X-CSRF-Token header, so browser and API
// clients share one implementation and one custody trail.
//
// The second factor (TOTP, identity.Store): an enrolled user gives the
// code with the password (LoginStep in login.go); a user whose role
// requires one (identity.MFARequiredRoles) and has none is sent to /mfa to
// enrol, and every page refuses a session that still owes its second
// factor, as the API does.
package web
