// Package custody keeps the chain of custody of every evidence item in
// PostgreSQL and proves it to outsiders.
//
// Each evidence item has its own hash chain (table custody_events): every
// event links to the previous one by SHA-256 (see package chain for the
// exact bytes hashed). One chain per item means appends on different items
// never wait for each other; appends on one item are serialized by locking
// that item's row in custody_heads, so a chain is always ordered and
// gap-free. The table is append-only in the database itself: a trigger
// rejects UPDATE, DELETE and TRUNCATE, and the application role
// (opendems_app) holds no such grants.
//
// Data flow:
//
//	ingest / API / jobs ──Append(ctx, tx, NewEvent)──► custody_events + custody_heads
//	periodic job ──Checkpoint(ctx, db, store, key)──► custody_checkpoints + storage.Checkpoints object
//	                (Ed25519-signed RFC 6962 Merkle root over all chain heads)
//	HTTP (RegisterRoutes) ──► chain JSON, public key, JSON-lines export
//	export ──► package chain VerifyExport (offline, pure Go, `dems custody verify`)
//	RunFixity ──► re-reads originals from storage, appends fixity_ok / fixity_failed
//
// Callers that already hold a transaction (ingest writes the first
// "ingested" event inside its commit transaction) use Append with their
// pgx.Tx; everyone else uses Service.Append, which opens its own.
//
// The system-level audit log (logons, administration, audit reads) lives
// in the subpackage audit; offline verification in chain; the CLI entry
// point in cli.
package custody
