package storage

import (
	"bytes"
	"fmt"
	"time"
)

// UploadRecord is what a backend keeps durably about one resumable upload
// (as JSON beside its staged bytes or parts), so a restarted process can
// resume it and Complete applies the options given at CreateUpload.
type UploadRecord struct {
	Namespace   Namespace `json:"namespace"`
	Digest      string    `json:"sha256"`
	Size        int64     `json:"size"`
	Started     time.Time `json:"started"`
	RetainUntil time.Time `json:"retain_until,omitzero"`
	LegalHold   bool      `json:"legal_hold"`
	ContentType string    `json:"content_type,omitempty"`
}

// NewUploadRecord describes an upload of size bytes for ref started now.
func NewUploadRecord(ref Ref, size int64, opts PutOptions, now time.Time) UploadRecord {
	rec := UploadRecord{Namespace: ref.Namespace, Digest: ref.Digest.String(), Size: size,
		Started: now.UTC().Truncate(time.Microsecond), LegalHold: opts.LegalHold, ContentType: opts.ContentType}
	if !opts.RetainUntil.IsZero() {
		rec.RetainUntil = opts.RetainUntil.UTC()
	}
	return rec
}

// PutOptions are the options the upload was created with.
func (r UploadRecord) PutOptions() PutOptions {
	return PutOptions{RetainUntil: r.RetainUntil, LegalHold: r.LegalHold, ContentType: r.ContentType}
}

// CheckRef refuses a record that belongs to another object than ref, so an
// upload id cannot be used to write someone else's object.
func (r UploadRecord) CheckRef(id UploadID, ref Ref) error {
	if r.Namespace != ref.Namespace || r.Digest != ref.Digest.String() {
		return fmt.Errorf("upload %s is for %s/%s, not %s: %w", id, r.Namespace, r.Digest, ref, ErrUploadNotFound)
	}
	return nil
}

// Equal reports whether two parts are the same record (a caller's claim
// against the backend's own copy).
func (p Part) Equal(q Part) bool {
	return p.Number == q.Number && p.Offset == q.Offset && p.Size == q.Size && p.ETag == q.ETag && bytes.Equal(p.HashState, q.HashState)
}
