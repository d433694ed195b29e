// Package receipt signs and verifies ingest receipts: the server's signed
// statement that it holds, as evidence item ID, exactly Size bytes hashing to
// SHA256, since IngestedAt. It is pure Go with no dependency beyond the
// standard library, so the docking-station agent and the offline `dems`
// verifier use the same code as the server.
//
// The signature is Ed25519 over a canonical text (Canonical), never over
// JSON, so re-encoding a receipt cannot change what was signed. The
// receipt-signing key is identified by KeyID (a prefix of the SHA-256 of the
// public key) so a dock that pinned one key rejects receipts of another.
package receipt
