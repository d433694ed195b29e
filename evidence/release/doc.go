// Package release is the server side of answering a public access
// request: the second person's review of each redacted clip
// (maker-checker), the release package built from approved material only,
// and share links through which a requester fetches it without an
// account. The package format itself (a signed BagIt bag) is
// subpackage releasepkg; the verifier is `dems verify` (subpackage cli).
//
// # Review (maker-checker)
//
//	Submit(clip)   the clip's latest spec version V and the latest render
//	               of V (its output SHA-256) are bound into a pending
//	               Review. When every clip still linked has a live review,
//	               the request goes redacting → in_review.
//	Approve/Reject by a second person holding redaction:approve, with a
//	               comment and comments per region or time range. Nobody
//	               who authored any spec version of the clip, linked the
//	               clip or submitted it may decide (SeparationOfDuties:
//	               403 with the reason; GET /api/v1/policy/explain?review=
//	               shows the same rule). Approval appends
//	               redaction_approved to the source item's custody; when
//	               every clip is approved the request goes in_review →
//	               approved; a rejection sends it back to redacting.
//	Voiding        any later spec save or render of the clip voids its live
//	               review and sends an in_review or approved request back
//	               to redacting (a trigger on the spec and output tables,
//	               so no path around it exists; migration 0015).
//
// The database is the backstop of the order: access_requests refuses the
// state approved unless every linked clip has an approved review, and
// released unless a release of the request was built.
//
// # Release
//
// Release (release:create) builds the package from the request's approved
// reviews and its open withholdings:
//
//  1. checkpoint: custody.Checkpoint signs a Merkle root over every chain
//     head, so the excerpt's heads are covered by a signed checkpoint;
//  2. excerpt: custody.Export of the source items (scope Items) in one
//     REPEATABLE READ snapshot; checked with chain.VerifyExport before use
//     (a head that moved between 1 and 2 retries once);
//  3. release events: release_created, each clip's redaction_submitted and
//     redaction_approved, released; a hash chain keyed by the release id
//     (table release_events, exported in the custody format);
//  4. releasepkg.Build streams each approved output from storage through
//     the ZIP writer into a temporary file while hashing it (memory stays
//     bounded; disk holds one package), refusing any clip whose bytes are
//     not the approved SHA-256;
//  5. the file is stored in the derivatives namespace under a retention
//     lock (PutOptions.RetainUntil: S3 Object Lock; fs keeps its own
//     retain-until and refuses deletes before it);
//  6. one transaction: the release is marked released with the package's
//     SHA-256, size and file list; released is appended to every source
//     item's custody; the request goes approved → released with a timeline
//     line; audited.
//
// The package is signed with the custody checkpoint key (the one served at
// GET /api/v1/custody/public-key), so `dems verify --server` checks it
// against the agency's published key.
//
// # Share links
//
// A link (Share) gives one recipient a released package: the token (128
// random bits, base64url) is shown once and stored as its SHA-256; expiry
// is required (default and maximum in configs' releases section), a
// passcode optional (argon2id through identity's hasher; wrong passcodes
// lock the link for a while), a download limit optional. The recipient's
// page and downloads are public routes. The download limit counts whole
// files: each response's byte range is added to the file's current
// download (release_share_downloads), which counts once when the ranges
// cover the file; a download active within the session window may finish
// after the limit, a new one starts only under it (admitDownload,
// finishDownload). Every view and download request (bytes, range, address,
// agent) is recorded in release_share_events and the audit log; the
// timeline and the custody of every source item get one event per
// completed download and per first view of a session window, so a
// Range-heavy client does not flood the chains. Revoked, expired or
// exhausted links answer 410. The pages render in the app's layout
// (web.Shell), the recipient's in its public variant.
package release
