// Package ingest is the server side of the verified, resumable upload path
// that turns a recording on a docking station into an evidence item.
//
// A recording leaves the camera only after the server holds a copy it
// verified, so the protocol is built around three rules: the server trusts
// no hash it did not compute from the bytes it stored; a byte range is
// acknowledged (the "durable offset") only after the bytes are in storage
// and the running whole-file hash state is in PostgreSQL; and a receipt is
// issued only after the evidence item, its first custody event and its
// transcode job are committed in one database transaction.
//
// # Protocol (all JSON, under /api/v1/ingest, Authorization: Bearer)
//
//	POST /sessions  {"sha256","size","filename","content_type","metadata":{...}}
//	  201 {"session_id","state":"open","offset","size","sha256","chunk_size"}
//	  200 {"duplicate":true,"state":"committed","evidence_id","receipt",...}
//	      an item with that sha256 exists (no session is made)
//	  An open session of the same caller for the same sha256 is returned
//	  again (200) instead of a new one, so an agent that lost its local state
//	  still resumes where the server is.
//	GET  /sessions/{id}
//	  200 {"session_id","state","offset","size","sha256","chunk_size",
//	       "evidence_id"?,"receipt"?}        where to continue (resume)
//	PUT  /sessions/{id}/chunks?offset=N     body: the chunk bytes
//	  headers Content-Length (required, exact) and X-Chunk-SHA256 (hex)
//	  200 {"offset"}                          the new durable offset
//	POST /sessions/{id}/commit
//	  200 {"evidence_id","receipt","duplicate"}
//	  with "Prefer: respond-async" (what dems-dock sends):
//	  202 {"session_id","state":"completing",...}   commit recorded; poll
//	      GET /sessions/{id} until "committed" (receipt) or "failed" (error)
//	  200 {"evidence_id","receipt","duplicate"}     already committed
//	DELETE /sessions/{id}                    the caller gives up; aborts
//	GET  /receipt-key
//	  200 {"algorithm":"ed25519","public_key":<base64>,"key_id"}
//
// Every chunk but the last is exactly chunk_size bytes (fixed by server
// configuration, at least storage.MinPartSize); the last is size-offset.
// A chunk must start at the durable offset (else 409 offset_mismatch with
// the current offset, so the client re-syncs), must declare exactly the
// expected length (411 without Content-Length, 413 chunk_too_large, 400
// chunk_length / beyond_size), must arrive whole (a body shorter than its
// Content-Length is 400 truncated) and must hash to X-Chunk-SHA256 (422
// chunk_digest_mismatch). A rejected chunk leaves the durable offset
// unchanged and its bytes are replaced by the next attempt at that part.
// Re-sending an already acknowledged chunk with the same hash is answered
// with the current offset (idempotent retry after a lost response).
//
// Errors are {"error":{"code","message"[,"offset"]}} with statuses 400, 401,
// 403, 404, 409, 410 (session expired or aborted), 411, 413, 422
// (digest_mismatch, size_mismatch: the session is failed and its data
// discarded), 500 and 503 (storage or database unavailable: retry).
// A client treats 5xx, 408, 429 and transport errors as transient (retry
// with backoff, then GET the session) and the 422 failures as permanent.
//
// # Data flow and crash safety
//
// Create: the session row (state open), nothing in storage: a create is
// PostgreSQL work only (three round trips with authentication; the
// officer, duplicate and live-session look-ups go in one batch).
//
// First chunk: storage.CreateUpload, then its id recorded on the session
// (compare-and-swap on the empty id). A crash in between leaves an upload
// without a session; CleanupAbandoned aborts it.
//
// Chunk: the body streams (never buffered whole) into storage.WritePart
// with the chunk SHA-256 the agent declared. The backend refuses a part
// whose bytes differ from it (fs hashes the part; on S3 the object store
// verifies X-Amz-Content-Sha256 as the bytes arrive), so a chunk corrupted
// in transit or changed in the agent's file is a 422 and is never recorded.
// The declared sum is only a check: WritePart continues the whole-file
// SHA-256 from the previous part's hash state over the bytes it actually
// wrote, in the same pass that streams them, and commit compares that, not
// anything the agent said. Then one statement (atomic, one round trip)
// inserts the part (number, offset, size, ETag, hash state, chunk SHA-256)
// and advances the session's offset with a compare-and-swap on the old
// offset. At most Config.ChunkStreams chunk bodies stream through a
// process at once; more wait before reading theirs, so fifty cameras'
// copy loops do not queue every control call behind them. A crash before that
// transaction loses only the unacknowledged chunk. Two writers racing on the
// same part are serialized in-process and by the compare-and-swap across
// processes; at commit the backend's part list is compared with the
// recorded ETags, so bytes that differ from what was hashed are never
// committed (the session rewinds to the first differing part).
//
// Commit: state open → completing (recorded first), then storage.Complete,
// which checks the final hash state against the declared SHA-256 and the
// total against the size, and makes the object visible and locked. Then one
// transaction: the objects row, the evidence_items row, the first custody
// event ("ingested", by the caller), the transcode job (river InsertTx) and
// the session → committed. Only then is the receipt returned.
//
// The acknowledging commit (Prefer: respond-async) answers 202 as soon as
// the state completing is recorded and runs the rest on a worker pool
// (Config.CommitWorkers at once; their transactions at most half of
// the database pool, so a burst of commits never starves the control
// calls of connections). Nothing changes in what is guaranteed: the
// receipt still exists only after the verification and the transaction,
// and an acknowledged commit whose process dies is a completing session,
// finished by Reconcile at the next start, by CleanupAbandoned, or by the
// agent's next commit call. A verification that fails marks the session
// failed with its error, which the poll returns. Without the preference
// the commit answers when the receipt exists, as before.
//
// A crash between Complete and that transaction leaves a visible object
// without an item, recorded as a session in state completing. It is
// reconciled by the next commit call of the agent (Complete reports the
// upload gone; Stat shows the object with the right size; the transaction
// runs) or, if the agent never returns, by CleanupAbandoned, which finishes
// the commit of every completing session whose object exists. So every
// visible original has an item, and nothing acknowledged is lost.
//
// A second upload of bytes already held (same SHA-256) returns the existing
// item's receipt at create or at commit, records a "duplicate upload
// attempt" custody event, and never makes a second item.
//
// # Receipts
//
// A receipt (package ingest/receipt, pure Go, used by the agent and `dems`)
// is an Ed25519 signature over a canonical text of evidence id, SHA-256,
// size and ingest time; it verifies offline against the key the dock pinned
// at enrollment.
//
// # Wiring
//
// NewService takes the pool, the storage.Backend, a CommitHook (run in
// each new item's commit transaction; demsd enqueues the transcode job and
// the retention computation there), a Custody appender, the receipt
// signing key, an UploadPolicy (who may be named as a recording's officer,
// and whether a declared hash may reveal an existing item), limits and a
// clock. The package is pure Go: it names no job
// kind and links no FFmpeg. Routes is its part of the API's route table
// (RegisterRoutes mounts it on a router that already authenticates, for
// tests and tools).
package ingest
