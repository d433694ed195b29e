// Package storage defines the object store every OpenDEMS component writes
// evidence to, and the guarantees each backend must give.
//
// Objects are content-addressed: an object is named by the SHA-256 of its
// bytes (Digest) inside a Namespace. A backend hashes the bytes while it
// writes them and makes an object visible only if they hash to the digest it
// was put under; a caller's claim about a hash is never trusted. Originals
// are written once and never modified; they carry a retention date (only
// ever extended) and a legal hold flag, and a backend refuses to delete or
// overwrite an object whose retention has not ended or that is under hold.
//
// Implementations: storage/fs (local filesystem, the default) and storage/s3
// (MinIO or S3 with Object Lock). Both pass the conformance suite in
// storage/storagetest.
package storage

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"time"
)

// Digest is the SHA-256 of an object's bytes. It is a comparable value type,
// usable as a map key.
type Digest [sha256.Size]byte

// String returns the lower-case hex form.
func (d Digest) String() string { return hex.EncodeToString(d[:]) }

// IsZero reports whether d is the zero digest (no digest).
func (d Digest) IsZero() bool { return d == Digest{} }

// ParseDigest parses a 64-character hex SHA-256.
func ParseDigest(s string) (Digest, error) {
	var d Digest
	if len(s) != 2*sha256.Size {
		return d, fmt.Errorf("storage: digest %q: want %d hex characters, got %d", s, 2*sha256.Size, len(s))
	}
	if _, err := hex.Decode(d[:], []byte(s)); err != nil {
		return d, fmt.Errorf("storage: digest %q: %w", s, err)
	}
	return d, nil
}

// Namespace separates kinds of objects. Originals are locked evidence;
// derivatives (proxies, thumbnails, redacted clips, releases) are not.
type Namespace string

// Namespaces used by OpenDEMS.
const (
	Originals   Namespace = "originals"
	Derivatives Namespace = "derivatives"
	Checkpoints Namespace = "checkpoints"
)

// Valid reports whether ns is one of the known namespaces.
func (ns Namespace) Valid() bool {
	switch ns {
	case Originals, Derivatives, Checkpoints:
		return true
	}
	return false
}

// Ref names one object.
type Ref struct {
	Namespace Namespace
	Digest    Digest
}

func (r Ref) String() string { return string(r.Namespace) + "/" + r.Digest.String() }

// Object describes a stored object.
type Object struct {
	Ref
	Size        int64
	Created     time.Time
	RetainUntil time.Time // zero: no retention
	LegalHold   bool
}

// PutOptions are applied when an object is first written.
type PutOptions struct {
	// RetainUntil locks the object against deletion and overwrite until
	// this time. Zero means no retention.
	RetainUntil time.Time
	// LegalHold locks the object until the hold is cleared.
	LegalHold bool
	// ContentType is advisory metadata for backends that keep it.
	ContentType string
}

// Errors every backend returns (wrapped in *Error) so callers can decide by
// kind with errors.Is.
var (
	ErrNotFound           = errors.New("object not found")
	ErrDigestMismatch     = errors.New("content does not match digest")
	ErrSizeMismatch       = errors.New("content does not match declared size")
	ErrRetained           = errors.New("object is under retention or legal hold")
	ErrRetentionShortened = errors.New("retention can only be extended")
	ErrUploadNotFound     = errors.New("upload not found")
	ErrInvalid            = errors.New("invalid argument")
)

// Error carries the operation, backend and object of a failure.
type Error struct {
	Op      string // e.g. "put", "delete"
	Backend string // "fs", "s3"
	Ref     Ref
	Err     error
}

func (e *Error) Error() string {
	if e.Ref == (Ref{}) {
		// Operations on no object (check, list-uploads) name none.
		return fmt.Sprintf("storage %s %s: %v", e.Backend, e.Op, e.Err)
	}
	return fmt.Sprintf("storage %s %s %s: %v", e.Backend, e.Op, e.Ref, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Store is the object store. All methods are safe for concurrent use.
type Store interface {
	// Put streams r into the object ref. It hashes the bytes while writing
	// and makes the object visible only if exactly size bytes were read
	// and they hash to ref.Digest; otherwise it returns ErrSizeMismatch or
	// ErrDigestMismatch and leaves nothing behind. Putting an object that
	// already exists with the same digest is not an error: it returns the
	// existing object unchanged (its retention is not shortened).
	Put(ctx context.Context, ref Ref, size int64, r io.Reader, opts PutOptions) (Object, error)
	// Open returns a reader of length bytes starting at offset (length < 0:
	// to the end). Range reads serve HTTP Range requests.
	Open(ctx context.Context, ref Ref, offset, length int64) (io.ReadCloser, error)
	// Stat describes an object, or returns ErrNotFound.
	Stat(ctx context.Context, ref Ref) (Object, error)
	// List calls fn for every object in ns, in no particular order, until
	// fn returns an error (which List returns).
	List(ctx context.Context, ns Namespace, fn func(Object) error) error
	// Delete removes an object. It returns ErrRetained while retention has
	// not ended or a legal hold is set, and ErrNotFound if it is absent.
	Delete(ctx context.Context, ref Ref) error
	// ExtendRetention moves retain-until later. A date earlier than the
	// current one returns ErrRetentionShortened and changes nothing.
	ExtendRetention(ctx context.Context, ref Ref, until time.Time) error
	// SetLegalHold sets or clears the legal hold.
	SetLegalHold(ctx context.Context, ref Ref, on bool) error
}

// UploadID identifies a resumable upload.
type UploadID string

// Part is the durable record of one written part of a resumable upload.
// The caller persists it (e.g. in PostgreSQL) and hands the last one back
// to WritePart/Complete after a restart, so the whole-file hash never has
// to be recomputed from the start.
type Part struct {
	Number int    // 1-based
	Offset int64  // byte offset of the part within the object
	Size   int64  // bytes in this part
	ETag   string // backend's part identifier (S3 ETag; fs: hex SHA-256 of the part)
	// HashState is the marshalled SHA-256 state of the whole object after
	// this part (hash.Hash implementing encoding.BinaryMarshaler).
	HashState []byte
}

// End is the offset just past this part.
func (p Part) End() int64 { return p.Offset + p.Size }

// Uploads is the resumable, multipart write path used by ingest. Bytes
// arrive in parts; each part is hashed as it is written (and, on S3, checked
// by the object store itself against the part's SHA-256), the running
// whole-file hash state is returned with the part, and Complete commits the
// object only when the final state equals the declared digest and size.
// Nothing is visible (and nothing is locked) before Complete succeeds.
type Uploads interface {
	// CreateUpload starts an upload of size bytes for ref.
	CreateUpload(ctx context.Context, ref Ref, size int64, opts PutOptions) (UploadID, error)
	// WritePart writes part number prev.Number+1 (1 when prev is nil) of n
	// bytes starting at prev.End(), continuing the hash from prev's state.
	// Writing the same part number again replaces it. Backends may require
	// every part but the last to be at least MinPartSize bytes.
	//
	// partSum, when not nil, is the SHA-256 the caller expects of this
	// part's bytes (ingest passes the chunk hash the agent declared). The
	// backend checks the part against it — fs by hashing the part, s3 by
	// handing it to the object store, which refuses a part whose bytes
	// differ — and returns ErrDigestMismatch, recording nothing, on a
	// difference. It is a check, never a substitute: the whole-object hash
	// state is always computed from the bytes the backend actually wrote,
	// so a wrong partSum can only make a part fail, not let one pass. With
	// partSum the s3 backend streams the part instead of buffering it (the
	// store verifies it as it arrives), saving a copy and a hash pass.
	WritePart(ctx context.Context, id UploadID, ref Ref, prev *Part, r io.Reader, n int64, partSum *Digest) (Part, error)
	// ListParts returns the parts the backend holds, in order.
	ListParts(ctx context.Context, id UploadID, ref Ref) ([]Part, error)
	// Complete verifies that parts cover exactly the declared size and that
	// the last part's hash state sums to ref.Digest, then makes the object
	// visible with the options given at CreateUpload. On a mismatch it
	// aborts the upload and returns ErrDigestMismatch or ErrSizeMismatch.
	Complete(ctx context.Context, id UploadID, ref Ref, parts []Part) (Object, error)
	// Abort discards an upload and everything written for it.
	Abort(ctx context.Context, id UploadID, ref Ref) error
	// ListUploads calls fn for every unfinished upload started before
	// olderThan, so abandoned uploads can be cleaned up.
	ListUploads(ctx context.Context, olderThan time.Time, fn func(id UploadID, ref Ref, started time.Time) error) error
}

// MinPartSize is the smallest part (but the last) any backend accepts.
const MinPartSize = 5 << 20

// Backend is a Store with resumable uploads, what the server wires in.
type Backend interface {
	Store
	Uploads
	// Name is "fs" or "s3", for logs and errors.
	Name() string
	// Check verifies at start that the backend is usable (reachable,
	// credentials valid, bucket has Object Lock) and fails clearly if not.
	Check(ctx context.Context) error
}
