// Package s3 is the storage.Backend on S3-compatible object storage with
// Object Lock (MinIO in production and tests), built on minio-go.
//
// # Keys
//
//	<ns>/<hex sha256>                      objects (originals/…, derivatives/…)
//	_uploads/<hex upload id>/upload.json   resumable upload: declared size, options
//	_uploads/<hex upload id>/part-NNNNN.json  our record of each written part
//
// The bucket is created with Object Lock (which also turns on versioning)
// when it does not exist; Check refuses a bucket without Object Lock, since
// retention and legal hold could not be enforced by the server there.
//
// # Why multipart on the final key, not staging + copy
//
// The guarantee is: nothing becomes a locked, visible object unless its
// SHA-256 was verified first. Two designs give it:
//
//  1. Put to a staging key, verify, then server-side copy (ComposeObject
//     above 5 GiB) to the final key with the lock settings and delete the
//     staging object.
//  2. A multipart upload directly on the final key: every part is sent
//     with its own SHA-256 in X-Amz-Content-Sha256 so MinIO verifies the
//     part's bytes on arrival (a part whose bytes differ is rejected), the
//     whole-object hash is chained through the parts (storage.Part's
//     HashState), and CompleteMultipartUpload - the only step that makes
//     the object visible and locked - is called only when that hash equals
//     the declared digest. On any mismatch AbortMultipartUpload discards
//     the parts and nothing is left.
//
// We use (2). A multipart upload is invisible until completed, so (2)
// gives the same guarantee as (1) without writing every byte twice on the
// server (copy doubles the I/O and the time of a large ingest), without a
// window where an unlocked staging copy of evidence exists, and without a
// second code path for objects above the 5 GiB copy limit. The retention
// mode, retain-until and legal hold are given at CreateMultipartUpload, so
// the object is locked from the instant it appears. Objects up to PartSize
// take a shortcut: the bytes are buffered, hashed and compared with the
// digest before anything is sent, then sent in one PutObject carrying the
// SHA-256 so the server checks them again.
//
// Completion uses If-None-Match: * so a concurrent Put of the same digest
// never creates a second version: the loser aborts its upload and returns
// the existing object.
//
// # Resumable uploads
//
// Ingest's uploads map onto S3 multipart uploads (UploadID is the S3
// upload ID). After each part is accepted, its record (offset, size, S3
// ETag, the part's SHA-256 and the running whole-object hash state) is
// stored as a small object under _uploads/. Those records are what
// ListParts returns after a restart and what Complete trusts: the caller's
// parts must equal them, the parts MinIO lists must match their ETags and
// sizes, and the last hash state must sum to the digest. A caller cannot
// hand in a forged hash state, and no part's bytes can differ from what
// was hashed because MinIO verified each part's SHA-256.
//
// When the caller passes the part's expected SHA-256 (ingest passes the
// chunk hash the agent declared), that value goes to MinIO as the part's
// X-Amz-Content-Sha256 and the part streams through unbuffered: MinIO
// refuses it if the bytes differ, and the whole-object hash state is
// computed from the very bytes streamed, in the same pass. The declared
// value is thus only ever a check; what Complete compares with the digest
// is still our own hash of what was sent. This saves a buffer copy and
// two SHA-256 passes per byte in the server (ingest's own chunk check and
// our part hash).
//
// # Memory
//
// Sending a part with a SHA-256 we compute means the part is read into
// memory before it is sent. Memory is therefore bounded by configuration,
// not by object size: the store holds at most Config.Buffers buffers of
// Config.PartSize bytes across all concurrent operations, and WritePart
// refuses parts larger than PartSize. A part with a caller-declared
// SHA-256 needs no buffer (it streams with the HTTP client's small copy
// buffer), so it neither uses nor waits for one.
//
// # Deletion
//
// Delete checks retention and hold first and returns storage.ErrRetained
// without contacting the server for removal; otherwise it removes every
// version of the key by version ID (a plain delete in a versioned bucket
// would only add a delete marker and keep the bytes). It never sends the
// governance-bypass header, so even GOVERNANCE-mode locks hold against it;
// the server's own refusal (AccessDenied) is also mapped to ErrRetained.
package s3
