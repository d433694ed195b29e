// Package releasepkg builds and verifies the package a requester receives
// when a public access request is answered: a signed BagIt bag (package
// bagit) whose payload proves itself. It is pure Go (no database, no
// cgo): the server calls Build with readers it opened, and `dems verify`
// calls Verify on the file the requester holds.
//
// Payload layout (docs/releases.md is the normative description):
//
//	data/clips/<name>                    redacted clips, as rendered and approved
//	data/reports/<name>.redaction.json   per clip: release redaction report (exemption codes,
//	data/reports/<name>.redaction.csv      source and output SHA-256, approval) as JSON and CSV
//	data/reports/<name>.render.json      the renderer's own report, verbatim
//	data/withheld.json, withheld.csv     items withheld, each with its exemption codes
//	data/letter.pdf                      the response letter
//	data/custody/excerpt.jsonl           custody export (package chain format) of every
//	                                     source item, with covering signed checkpoints
//	data/custody/release-events.jsonl    the release's own events (same format)
//	data/release.json                    the index tying it together (written last)
//
// Data flow of Build (one pass, bounded memory: the clips are streamed
// from their readers into the ZIP and hashed on the way; only reports,
// the letter and the index are built in memory):
//
//	Spec.Clips[i].Open ──► bagit.Writer.AddPayload (SHA-256 must equal the render
//	                       report's output hash and the approval's) ──► reports
//	Spec.Withheld      ──► withheld.json/csv
//	clip hashes        ──► letter.pdf
//	CustodyExcerpt     ──► excerpt.jsonl (scanned on the way: each clip's source
//	                       SHA-256 must appear in an "ingested" event of its item)
//	ReleaseEvents      ──► release-events.jsonl
//	everything above   ──► release.json ──► bag-info, manifests, signature
//
// Verify checks the bag (bagit.Verify, signature required), then the
// release: the index, each clip against its report, each report's source
// against the custody excerpt, the excerpt's chains and checkpoints
// (custody chain.VerifyExport) with the package's signing key as the
// trusted checkpoint key, and the release events' chain. The agency signs
// custody checkpoints and release packages with one Ed25519 key, the one
// served at GET /api/v1/custody/public-key.
package releasepkg
