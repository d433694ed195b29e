// Package dock is the docking-station agent's library: everything
// `dems-dock` does, with no flags or files of its own (cmd/dems-dock reads
// those).
//
// Data flow:
//
//	Watcher (poll) ──complete file──► Journal (bbolt: discovered → hashed →
//	uploading(offset) → verified(receipt) → released | quarantined)
//	Daemon workers ──► Uploader ──Client (HTTP, ingest/wire)──► server
//	                       │ resumes at the server's durable offset
//	                       └ receipt.VerifyFor(pinned key) ──► release: move or delete
//
// The rule everything else serves: a file is moved or deleted only after
// the journal holds a receipt whose signature verifies against the key the
// dock pinned at enrollment and whose SHA-256 and size are the file's.
// Every state change is written to the journal (fsync'd by bbolt) before
// the action that depends on it, so after a crash the daemon resumes each
// file where it was: an upload continues at the server's durable offset,
// a verified file is released, a released one is never touched again.
//
// Errors from the server are classified (see Classify): permanent (the
// file's content is wrong: it counts toward quarantine), auth (the dock's
// token is refused: retry much later, never quarantine) and transient
// (everything else: retry with exponential backoff, for as long as it
// takes). Bandwidth is shared through a token-bucket RateLimiter and
// concurrency bounded by the number of workers.
package dock
