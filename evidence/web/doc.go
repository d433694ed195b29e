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
//
// Shell lends the layout (header, navigation, styles, footer) to pages
// other packages define (evidence/release's review, share link and
// recipient pages); its public variant, for a share link's recipient,
// shows the agency's name and no staff navigation.
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
//
// # The redaction editor
//
// The editor (docs/redaction-editor.md; templates/editor.html,
// static/editor/*.js as plain ES
// modules, no build step, no dependencies) is a page shell around one clip
// of a public access request. RedactionEditor returns its handler; the
// route's EditorLoader checks access and names the clip's JSON resource
// (EditorData.ClipURL). Everything else comes from that resource, so the
// page does not grow with the clip:
//
//	GET {clip_url} → 200
//	{
//	  "id", "request_id", "item_id": strings,
//	  "in", "out": seconds of the source the clip covers,
//	  "proxy_url": the item's web proxy (constant frame rate, starting at
//	      media time 0, HTTP Range),
//	  "sprite_url", "sprite": transcode.SpriteResult as stored with the
//	      sprite derivative ({width, height, tile_width, tile_height,
//	      columns, rows, tiles: [{index, x, y, time}]}),
//	  "fps": {"num", "den"}, "frame_count": of the proxy,
//	  "width", "height": the upright source picture in pixels (spec
//	      coordinates; the proxy may be smaller or anamorphic),
//	  "waveform_url" (optional): {"rate": peak pairs per second,
//	      "peaks": [min0, max0, min1, max1, ...] as signed 8-bit values},
//	  "spec_version": N (0: none yet), "spec": the redact.Spec of version N
//	      (null or {} for none),
//	  "exemptions": [{"code", "label"}] ("title" is read for "label"),
//	  "preview" (optional): {"url", "spec_version"}: the server-rendered
//	      low-resolution preview, shown beside the source,
//	  "proposals" (optional): the latest detection output, a spec of
//	      origin "auto" regions; those the spec lacks join the working copy
//	      unreviewed
//	}
//
//	PUT {clip_url}/spec  {"base_version": N, "spec": {...}}
//	  → 200 {"version": N+1}
//	  → 409 {"error": {"code": "conflict", "message": "Version 7 was saved by
//	        J. Ortiz at 14:06 while you were editing version 6."}}: shown as
//	        written; the local edits and the draft are kept
//	  → 400 {"error": {"code": "invalid", "message", "fields": [{"path":
//	        "regions[2].keyframes[0].time", "message": "..."}]}}: each field
//	        error is shown on the region, audio or full-frame range its path
//	        names ({"field", "reason"} is read too)
//
//	POST {clip_url}/track  {"time": s, "box": {"x", "y", "width", "height"}}
//	  → 202 {"job": {"id", "state", "progress", ...}}; then
//	GET {clip_url}/jobs/{id} → {"job": {...}, "outputs": [...]} polled until
//	  the job is completed (the "track" output's details.result.keyframes
//	  replace the region's keyframes as one undoable edit), cancelled or
//	  discarded; POST {clip_url}/jobs/{id}/cancel cancels it
//
// Every call carries the session cookie, and every change the
// X-CSRF-Token header from the layout's csrf-token meta tag. The editor saves only specs whose regions
// (except unreviewed or rejected proposals), audio and full-frame ranges
// carry a code from "exemptions"; the server must validate anyway.
//
// The frame model: the frame on screen is only ever taken from
// requestVideoFrameCallback (frame = round(mediaTime × fps)); a seek to
// frame n sets currentTime to the middle of the frame and waits for the
// callback; keyframes are stored at frame starts n × den / num seconds of
// the source. Boxes are evaluated by interp.js, the same function as
// redact.Region.BoxAt (hold and hidden spans included), both tested
// against redact/testdata/interp_vectors.json, and rounded outward to
// whole source pixels. Edits are commands with their inverse (undo/redo);
// the working copy is kept in IndexedDB as a draft until it is saved; the
// keyboard shortcuts are declared once in keys.js, from which the help
// dialog, tooltips and the hint line are generated.
package web
