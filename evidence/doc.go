// Package evidence is the OpenDEMS domain: evidence items (one per original
// recording, identified by the SHA-256 of its bytes), their metadata and
// derivatives, and the queries that find them. Subpackages hold the rest of
// the domain: identity (who is calling), custody (the hash-chained chain of
// custody and the audit log), ingest (the verified, resumable upload path),
// dock (the docking-station agent), jobs (background work on river), pg
// (PostgreSQL connection and migrations) and api (the gin HTTP API).
//
// Items are created only by ingest, inside the transaction that also writes
// their first custody event and their transcode job. This package reads and
// updates them; every change that matters to custody is made by a caller
// that appends the matching custody event in the same transaction.
package evidence
