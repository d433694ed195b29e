package fs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/opendems/opendems/storage"
)

// partRecord is uploads/<id>/part-NNNNN.json: the backend's own copy of
// the storage.Part it returned, so Complete and ListParts need not trust
// what a caller hands back.
type partRecord struct {
	Number    int    `json:"number"`
	Offset    int64  `json:"offset"`
	Size      int64  `json:"size"`
	SHA256    string `json:"sha256"`
	HashState []byte `json:"hash_state"`
}

func (p partRecord) part() storage.Part {
	return storage.Part{Number: p.Number, Offset: p.Offset, Size: p.Size, ETag: p.SHA256, HashState: p.HashState}
}

func (s *Store) uploadDir(id storage.UploadID) string {
	return filepath.Join(s.root, "uploads", string(id))
}

func partFile(n int) string { return fmt.Sprintf("part-%05d.json", n) }

// CreateUpload implements storage.Uploads.
func (s *Store) CreateUpload(ctx context.Context, ref storage.Ref, size int64, opts storage.PutOptions) (storage.UploadID, error) {
	if err := ref.Validate(); err != nil {
		return "", s.err("create-upload", ref, err)
	}
	if size < 0 {
		return "", s.err("create-upload", ref, fmt.Errorf("negative size %d: %w", size, storage.ErrInvalid))
	}
	if err := ctx.Err(); err != nil {
		return "", s.err("create-upload", ref, err)
	}
	id, err := newUploadID()
	if err != nil {
		return "", s.err("create-upload", ref, err)
	}
	// Build the upload in tmp/ and rename it into uploads/ complete, so
	// ListUploads never meets a half-created upload it cannot describe.
	dir := filepath.Join(s.root, "tmp", "upload-"+string(id))
	if err := os.Mkdir(dir, 0o750); err != nil {
		return "", s.err("create-upload", ref, err)
	}
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(dir)
		}
	}()
	f, err := os.OpenFile(filepath.Join(dir, "data"), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o640)
	if err != nil {
		return "", s.err("create-upload", ref, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return "", s.err("create-upload", ref, err)
	}
	if err := f.Close(); err != nil {
		return "", s.err("create-upload", ref, err)
	}
	rec := storage.NewUploadRecord(ref, size, opts, s.now())
	b, err := json.Marshal(rec)
	if err != nil {
		return "", s.err("create-upload", ref, err)
	}
	if err := writeFileAtomic(filepath.Join(dir, "upload.json"), b, 0o640); err != nil {
		return "", s.err("create-upload", ref, err)
	}
	if err := os.Rename(dir, s.uploadDir(id)); err != nil {
		return "", s.err("create-upload", ref, err)
	}
	ok = true
	if err := syncDir(filepath.Join(s.root, "uploads")); err != nil {
		return "", s.err("create-upload", ref, err)
	}
	return id, nil
}

// loadUpload reads the upload record and checks it belongs to ref.
func (s *Store) loadUpload(id storage.UploadID, ref storage.Ref) (storage.UploadRecord, error) {
	var rec storage.UploadRecord
	if !isHex(string(id), 32) {
		return rec, fmt.Errorf("malformed upload id %q: %w", id, storage.ErrUploadNotFound)
	}
	b, err := os.ReadFile(filepath.Join(s.uploadDir(id), "upload.json"))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return rec, fmt.Errorf("upload %s: %w", id, storage.ErrUploadNotFound)
		}
		return rec, err
	}
	if err := json.Unmarshal(b, &rec); err != nil {
		return rec, fmt.Errorf("corrupt upload record %s: %w", id, err)
	}
	return rec, rec.CheckRef(id, ref)
}

// loadParts returns the recorded parts in order, stopping at the first
// gap (a later part recorded after a replaced earlier one is stale).
func (s *Store) loadParts(id storage.UploadID) ([]partRecord, error) {
	ents, err := os.ReadDir(s.uploadDir(id))
	if err != nil {
		return nil, err
	}
	var recs []partRecord
	for _, e := range ents {
		name := e.Name()
		if !strings.HasPrefix(name, "part-") || !strings.HasSuffix(name, ".json") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(s.uploadDir(id), name))
		if err != nil {
			return nil, err
		}
		var p partRecord
		if err := json.Unmarshal(b, &p); err != nil {
			return nil, fmt.Errorf("corrupt part record %s/%s: %w", id, name, err)
		}
		recs = append(recs, p)
	}
	slices.SortFunc(recs, func(a, b partRecord) int { return a.Number - b.Number })
	var off int64
	for i, p := range recs {
		if p.Number != i+1 || p.Offset != off {
			return recs[:i], nil
		}
		off = p.End()
	}
	return recs, nil
}

// readPart reads the record of part n; a missing or unreadable one is
// ErrInvalid, as the caller named a part we do not hold.
func (s *Store) readPart(id storage.UploadID, n int) (partRecord, error) {
	var p partRecord
	if n < 1 || n > 99999 {
		return p, fmt.Errorf("part number %d: %w", n, storage.ErrInvalid)
	}
	b, err := os.ReadFile(filepath.Join(s.uploadDir(id), partFile(n)))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return p, fmt.Errorf("part %d is not recorded: %w", n, storage.ErrInvalid)
		}
		return p, err
	}
	if err := json.Unmarshal(b, &p); err != nil {
		return p, fmt.Errorf("corrupt part record %s/%s: %w", id, partFile(n), err)
	}
	return p, nil
}

// End is the offset after the part.
func (p partRecord) End() int64 { return p.Offset + p.Size }

// WritePart implements storage.Uploads.
func (s *Store) WritePart(ctx context.Context, id storage.UploadID, ref storage.Ref, prev *storage.Part, r io.Reader, n int64, partSum *storage.Digest) (storage.Part, error) {
	const op = "write-part"
	if err := ref.Validate(); err != nil {
		return storage.Part{}, s.err(op, ref, err)
	}
	if n < 0 {
		return storage.Part{}, s.err(op, ref, fmt.Errorf("negative part size %d: %w", n, storage.ErrInvalid))
	}
	unlock := s.lockUpload(id)
	defer unlock()
	rec, err := s.loadUpload(id, ref)
	if err != nil {
		return storage.Part{}, s.err(op, ref, err)
	}
	number, offset := 1, int64(0)
	var state []byte
	if prev != nil {
		// prev must be a part this backend recorded, so the hash chain
		// continues from a state we produced, not one a caller made up.
		// Only its record is read: uploads of many parts stay linear.
		pr, err := s.readPart(id, prev.Number)
		if err != nil {
			return storage.Part{}, s.err(op, ref, err)
		}
		if !prev.Equal(pr.part()) {
			return storage.Part{}, s.err(op, ref, fmt.Errorf("previous part %d does not match the recorded part: %w", prev.Number, storage.ErrInvalid))
		}
		number, offset, state = prev.Number+1, prev.End(), prev.HashState
	}
	if offset+n > rec.Size {
		return storage.Part{}, s.err(op, ref, fmt.Errorf("part %d of %d bytes at %d exceeds upload size %d: %w", number, n, offset, rec.Size, storage.ErrSizeMismatch))
	}
	whole, err := storage.RestoreHashState(state)
	if err != nil {
		return storage.Part{}, s.err(op, ref, err)
	}
	// Forget this part and every later one before touching the bytes: a
	// crash mid-write then leaves the part missing, not misrecorded.
	ents, err := os.ReadDir(s.uploadDir(id))
	if err != nil {
		return storage.Part{}, s.err(op, ref, err)
	}
	for _, e := range ents {
		if name := e.Name(); strings.HasPrefix(name, "part-") && name >= partFile(number) {
			if err := os.Remove(filepath.Join(s.uploadDir(id), name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return storage.Part{}, s.err(op, ref, err)
			}
		}
	}
	f, err := os.OpenFile(filepath.Join(s.uploadDir(id), "data"), os.O_WRONLY, 0)
	if err != nil {
		return storage.Part{}, s.err(op, ref, err)
	}
	defer f.Close()
	ph := sha256.New()
	w := io.MultiWriter(io.NewOffsetWriter(f, offset), whole, ph)
	copied, err := io.Copy(w, io.LimitReader(ctxReader{ctx, r}, n))
	if err != nil {
		return storage.Part{}, s.err(op, ref, err)
	}
	if copied != n {
		return storage.Part{}, s.err(op, ref, fmt.Errorf("part %d: read %d of %d bytes: %w", number, copied, n, storage.ErrSizeMismatch))
	}
	var got storage.Digest
	ph.Sum(got[:0])
	if partSum != nil && got != *partSum {
		// The part stays unrecorded (its record was removed above), so
		// the bytes written are never counted.
		return storage.Part{}, s.err(op, ref, fmt.Errorf("part %d hashes to %s, expected %s: %w", number, got, *partSum, storage.ErrDigestMismatch))
	}
	if err := f.Sync(); err != nil {
		return storage.Part{}, s.err(op, ref, err)
	}
	hs, err := storage.MarshalHashState(whole)
	if err != nil {
		return storage.Part{}, s.err(op, ref, err)
	}
	pr := partRecord{Number: number, Offset: offset, Size: n, SHA256: got.String(), HashState: hs}
	b, err := json.Marshal(pr)
	if err != nil {
		return storage.Part{}, s.err(op, ref, err)
	}
	if err := writeFileAtomic(filepath.Join(s.uploadDir(id), partFile(number)), b, 0o640); err != nil {
		return storage.Part{}, s.err(op, ref, err)
	}
	return pr.part(), nil
}

// ListParts implements storage.Uploads.
func (s *Store) ListParts(ctx context.Context, id storage.UploadID, ref storage.Ref) ([]storage.Part, error) {
	if err := ctx.Err(); err != nil {
		return nil, s.err("list-parts", ref, err)
	}
	unlock := s.lockUpload(id)
	defer unlock()
	if _, err := s.loadUpload(id, ref); err != nil {
		return nil, s.err("list-parts", ref, err)
	}
	recs, err := s.loadParts(id)
	if err != nil {
		return nil, s.err("list-parts", ref, err)
	}
	parts := make([]storage.Part, len(recs))
	for i, p := range recs {
		parts[i] = p.part()
	}
	return parts, nil
}

// Complete implements storage.Uploads.
func (s *Store) Complete(ctx context.Context, id storage.UploadID, ref storage.Ref, parts []storage.Part) (storage.Object, error) {
	const op = "complete"
	if err := ref.Validate(); err != nil {
		return storage.Object{}, s.err(op, ref, err)
	}
	unlock := s.lockUpload(id)
	defer unlock()
	rec, err := s.loadUpload(id, ref)
	if err != nil {
		return storage.Object{}, s.err(op, ref, err)
	}
	recs, err := s.loadParts(id)
	if err != nil {
		return storage.Object{}, s.err(op, ref, err)
	}
	if len(parts) != len(recs) {
		return storage.Object{}, s.err(op, ref, fmt.Errorf("%d parts given, %d recorded: %w", len(parts), len(recs), storage.ErrInvalid))
	}
	for i := range parts {
		if !parts[i].Equal(recs[i].part()) {
			return storage.Object{}, s.err(op, ref, fmt.Errorf("part %d does not match the recorded part: %w", i+1, storage.ErrInvalid))
		}
	}
	abort := func(cause error) (storage.Object, error) {
		if err := os.RemoveAll(s.uploadDir(id)); err != nil {
			cause = fmt.Errorf("%w (and abort failed: %v)", cause, err)
		}
		return storage.Object{}, s.err(op, ref, cause)
	}
	var total int64
	var state []byte
	if len(recs) > 0 {
		total, state = recs[len(recs)-1].End(), recs[len(recs)-1].HashState
	}
	if err := storage.CheckComplete(total, state, rec.Size, ref.Digest); err != nil {
		return abort(err)
	}
	// Re-read what is on disk: the hash states describe the bytes as they
	// arrived, this proves the bytes we are about to promote.
	data := filepath.Join(s.uploadDir(id), "data")
	f, err := os.OpenFile(data, os.O_RDWR, 0)
	if err != nil {
		return storage.Object{}, s.err(op, ref, err)
	}
	if err := f.Truncate(rec.Size); err != nil {
		f.Close()
		return storage.Object{}, s.err(op, ref, err)
	}
	whole := sha256.New()
	for _, p := range recs {
		if err := ctx.Err(); err != nil {
			f.Close()
			return storage.Object{}, s.err(op, ref, err)
		}
		ph := sha256.New()
		if _, err := io.Copy(io.MultiWriter(whole, ph), io.NewSectionReader(f, p.Offset, p.Size)); err != nil {
			f.Close()
			return storage.Object{}, s.err(op, ref, err)
		}
		if got := hex.EncodeToString(ph.Sum(nil)); got != p.SHA256 {
			f.Close()
			return abort(fmt.Errorf("staged part %d changed on disk (hashes to %s, written as %s): %w", p.Number, got, p.SHA256, storage.ErrDigestMismatch))
		}
	}
	var got storage.Digest
	whole.Sum(got[:0])
	if got != ref.Digest {
		f.Close()
		return abort(fmt.Errorf("staged bytes hash to %s: %w", got, storage.ErrDigestMismatch))
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return storage.Object{}, s.err(op, ref, err)
	}
	if err := f.Close(); err != nil {
		return storage.Object{}, s.err(op, ref, err)
	}
	obj, err := s.promote(ref, data, rec.Size, storage.PutOptions{RetainUntil: rec.RetainUntil, LegalHold: rec.LegalHold, ContentType: rec.ContentType})
	if err != nil {
		return storage.Object{}, s.err(op, ref, err)
	}
	if err := os.RemoveAll(s.uploadDir(id)); err != nil {
		return obj, s.err(op, ref, fmt.Errorf("object stored, staging cleanup failed: %w", err))
	}
	return obj, nil
}

// Abort implements storage.Uploads.
func (s *Store) Abort(ctx context.Context, id storage.UploadID, ref storage.Ref) error {
	if err := ctx.Err(); err != nil {
		return s.err("abort", ref, err)
	}
	unlock := s.lockUpload(id)
	defer unlock()
	if _, err := s.loadUpload(id, ref); err != nil {
		return s.err("abort", ref, err)
	}
	if err := os.RemoveAll(s.uploadDir(id)); err != nil {
		return s.err("abort", ref, err)
	}
	return nil
}

// ListUploads implements storage.Uploads.
func (s *Store) ListUploads(ctx context.Context, olderThan time.Time, fn func(id storage.UploadID, ref storage.Ref, started time.Time) error) error {
	ents, err := os.ReadDir(filepath.Join(s.root, "uploads"))
	if err != nil {
		return s.err("list-uploads", storage.Ref{}, err)
	}
	for _, e := range ents {
		if err := ctx.Err(); err != nil {
			return s.err("list-uploads", storage.Ref{}, err)
		}
		id := storage.UploadID(e.Name())
		if !e.IsDir() || !isHex(string(id), 32) {
			continue
		}
		b, err := os.ReadFile(filepath.Join(s.uploadDir(id), "upload.json"))
		if errors.Is(err, fs.ErrNotExist) {
			continue // completed or aborted meanwhile
		}
		if err != nil {
			return s.err("list-uploads", storage.Ref{}, err)
		}
		var rec storage.UploadRecord
		if err := json.Unmarshal(b, &rec); err != nil {
			return s.err("list-uploads", storage.Ref{}, fmt.Errorf("corrupt upload record %s: %w", id, err))
		}
		dg, err := storage.ParseDigest(rec.Digest)
		if err != nil {
			return s.err("list-uploads", storage.Ref{}, err)
		}
		if !rec.Started.Before(olderThan) {
			continue
		}
		if err := fn(id, storage.Ref{Namespace: rec.Namespace, Digest: dg}, rec.Started); err != nil {
			return err
		}
	}
	return nil
}
