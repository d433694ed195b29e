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
// Data flow: every page is declared in the one route table (Routes) with
// its action and, where the path names one, its resource (item or case),
// so the API's enforcement point decides it like any API route: anyone
// without a web session is sent to the login page, a session owing its
// second factor to /mfa, and a refusal is rendered by PageError (an HTML
// 403, or 404 exactly like a missing item). Handlers receive the loaded
// resource (api.ItemOf, review.CaseOf) and never call the policy
// themselves; what a page shows (navigation, release buttons) is asked
// through api.Can and api.ListScope. Only the login form and the static
// assets are public.
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
