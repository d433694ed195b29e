// Package chain is the pure-Go heart of custody verification: the exact
// bytes that are hashed for a custody or audit event, canonical JSON, RFC
// 6962 Merkle trees with inclusion proofs, Ed25519-signed checkpoints, the
// JSON-lines export format and its offline verifier (VerifyExport).
//
// It imports neither pgx nor gin nor anything that needs cgo, so the `dems`
// CLI can verify an export anywhere (CGO_ENABLED=0). The database side
// (package custody) and the verifier share this code, so what is written is
// checked by the very same rules.
//
// Hash chain: for event n of one chain,
//
//	hash_n = SHA-256(hash_{n-1} || CanonicalEvent(event_n))
//
// with hash_0 = 32 zero bytes. CanonicalEvent is a canonical JSON object
// that includes the evidence id and sequence number, so an event cannot be
// moved to another item or position without changing its hash.
//
// Checkpoints: leaf_i = evidence_id (16 bytes) || seq (8 bytes, big
// endian) || head hash (32 bytes) for every chain, sorted by evidence id;
// leaf hash = SHA-256(0x00 || leaf), node hash = SHA-256(0x01 || left ||
// right) (RFC 6962 section 2.1). The server signs CheckpointMessage (a short
// text naming id, time, tree size and root) with Ed25519.
package chain
