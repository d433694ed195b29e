// Package review is the HTTP side of reviewing footage: the proxy streamed
// with HTTP Range (seeking), poster and thumbnail sprite, the transcode
// job's status and progress, markers (bookmarks with notes at a media
// time), tags, categories (decided by policy, with the retention date
// recomputed), flags, and cases (create, link and unlink items, case-level
// legal hold). The web UI (package web) and API clients use the same
// routes.
//
// Data flow: cmd/demsd mounts Register on the API's gin engine and
// declares Routes() with api.Server.Declare, so the API's single
// enforcement point authenticates every request, checks CSRF for browser
// sessions, and for item routes loads the :id item and decides the
// route's action on it before a handler here runs (handlers read the item
// with api.ItemOf). Handlers that act on a second object (a case, a new
// category) ask the same Authorizer again. Every change that matters to a
// court appends to the item's chain of custody in the same transaction as
// the change (custody.Append); playback appends one "viewed" event per web
// session and item (playback_views de-duplicates the many range requests
// a player makes).
//
// Proxies and thumbnails are read from storage.Derivatives by the
// SHA-256 recorded in evidence_derivatives by the transcode worker
// (evidence/jobs); ObjectReader turns storage range reads into the
// io.ReadSeeker that http.ServeContent needs for Range, If-Range and 416.
package review
