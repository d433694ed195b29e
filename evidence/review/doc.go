// Package review is the HTTP side of reviewing footage: the proxy streamed
// with HTTP Range (seeking), poster and thumbnail sprite, the transcode
// job's status and progress, markers (bookmarks with notes at a media
// time), tags, the attention flag, and cases (create, link and unlink
// items). Categories and legal holds (item and case) belong to
// evidence/retention, which is the only package that changes them; a case
// under legal hold keeps its items (ErrCaseHeld) so that removing an item
// cannot lift its hold. The web UI (package web) and API clients use the
// same routes.
//
// Data flow: cmd/demsd mounts Routes() on the API's enforcement point,
// which authenticates every request, checks CSRF for browser sessions,
// and loads and decides the route's resources before a handler here runs
// (the item with api.ItemOf, the case with CaseOf; this package registers
// the case loader, CaseLoader). A case named in a body is loaded through
// api.Load, the same decision. Every change that matters to a
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
