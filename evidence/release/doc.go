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
// Release (release:create) reserves a release and enqueues its build, in
// one transaction: the release row (state building) names exactly the
// request's approved reviews and open withholdings, its own event chain
// starts (release_created, each clip's redaction_submitted and
// redaction_approved; table release_events, keyed by the release id), and
// a river job (BuildArgs, queue "releases", 3 attempts) is inserted. The
// API answers 202 with the release; one build runs per request at a time.
// BuildWorker then:
//
//  1. appends released to the release's chain (once, across attempts);
//  2. checkpoint: custody.Checkpoint signs a Merkle root over every chain
//     head, so the excerpt's heads are covered by a signed checkpoint;
//  3. excerpt: custody.Export of the source items (scope Items) in one
//     REPEATABLE READ snapshot; checked with chain.VerifyExport before use
//     (a head that moved between 2 and 3 retries);
//  4. releasepkg.Build streams each approved output from storage through
//     the ZIP writer straight into storage (storage.CreateStream): each
//     clip is read once and hashed with SHA-256 and SHA-512 in two
//     goroutines on its way into the ZIP, and the backend hashes the ZIP
//     as it writes it and names the object by that SHA-256, under a
//     retention lock (PutOptions.RetainUntil). Memory stays bounded; no
//     temporary copy of the package exists (fs: a staging file renamed
//     into place; s3: a staging multipart upload copied server-side). A
//     clip whose bytes are not the approved SHA-256 stops the build;
//  5. one transaction: the release (still building: not cancelled) is
//     marked released with the SHA-256 and size the backend computed and
//     the file list; released is appended to every source item's custody;
//     the request goes approved → released with a timeline line; audited.
//
// Progress (bytes of clips streamed) is kept on the release row and shown
// by the API and the review page. Cancel marks the release failed
// ("cancelled by ...") and cancels the job; the running build notices
// within two seconds (or at its final transaction) and stops. A transient
// failure is retried by river; a permanent one (a conflict, a clip that
// does not match its approval) or the last attempt marks the release
// failed with the reason. The request stays approved after a failed or
// cancelled build, so releasing again is the retry.
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
