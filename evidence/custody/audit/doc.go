// Package audit is the system-level audit log required by the CJIS
// Security Policy (5.4.1.1): logons (success and failure), logoffs,
// password and MFA changes, account and permission changes, policy and
// configuration changes, every action of an administrator, and every
// access to the audit log itself.
//
// Each record holds time, component, event type, user identity, outcome,
// source address and details, and is hash-chained like custody events
// (one global chain: hash_n = SHA-256(hash_{n-1} || canonical record)).
// Appends serialize on the single audit_head row, locked FOR UPDATE.
// The table is append-only in the database (trigger + grants, migration
// 0002), so records are never removed: that keeps them for at least a year
// and never shorter than the evidence they concern.
//
// Data flow:
//
//	identity / API / jobs ──Record(ctx, q, Entry)──► audit_log + audit_head
//	Middleware ──► one record per request made by an administrator
//	GET /api/v1/audit (Handler) ──Query──► JSON or CSV; one audit_read
//	    record per query (pages carry query=ID), bounded to the log as it was
//	periodic job ──SignAnchor──► audit_anchors (Ed25519 over the head seq+hash)
//	Verify ──► re-checks the whole chain and every anchor (names the first
//	    broken record; reports the unsigned tail after the latest anchor)
package audit
