package s3

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"golang.org/x/sync/errgroup"

	"github.com/opendems/opendems/storage"
)

// partRecord is _uploads/<hex id>/part-NNNNN.json: our durable copy of a
// storage.Part the server accepted.
type partRecord struct {
	Number    int    `json:"number"`
	Offset    int64  `json:"offset"`
	Size      int64  `json:"size"`
	ETag      string `json:"etag"`
	SHA256    string `json:"sha256"`
	HashState []byte `json:"hash_state"`
}

func (p partRecord) part() storage.Part {
	return storage.Part{Number: p.Number, Offset: p.Offset, Size: p.Size, ETag: p.ETag, HashState: p.HashState}
}

func (p partRecord) end() int64 { return p.Offset + p.Size }

// recordReaders is how many part records loadParts reads at once.
const recordReaders = 8

func recordPrefix(id storage.UploadID) string {
	return "_uploads/" + hex.EncodeToString([]byte(id)) + "/"
}

func partKey(id storage.UploadID, n int) string {
	return fmt.Sprintf("%spart-%05d.json", recordPrefix(id), n)
}

func (s *Store) putJSON(ctx context.Context, k string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(b)
	_, err = s.core.PutObject(ctx, s.cfg.Bucket, k, bytes.NewReader(b), int64(len(b)), "", hex.EncodeToString(sum[:]),
		minio.PutObjectOptions{ContentType: "application/json", DisableContentSha256: true})
	return translate(err)
}

func (s *Store) getJSON(ctx context.Context, k string, v any) error {
	rc, _, _, err := s.core.GetObject(ctx, s.cfg.Bucket, k, minio.GetObjectOptions{})
	if err != nil {
		return translate(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, 1<<20))
	if err != nil {
		return translate(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("corrupt record %s: %w", k, err)
	}
	return nil
}

// deletePrefix removes every version of every key under prefix; upload
// records are not locked, so this always succeeds on a healthy server.
func (s *Store) deletePrefix(ctx context.Context, prefix string) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// One multi-object delete per 1,000 keys instead of a request per key:
	// a commit's clean-up is then two requests however many parts it had.
	objs := make(chan minio.ObjectInfo)
	var listErr error
	go func() {
		defer close(objs)
		for v := range s.client.ListObjects(ctx, s.cfg.Bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true, WithVersions: true}) {
			if v.Err != nil {
				listErr = v.Err
				return
			}
			select {
			case objs <- v:
			case <-ctx.Done():
				return
			}
		}
	}()
	var delErr error
	for e := range s.client.RemoveObjects(ctx, s.cfg.Bucket, objs, minio.RemoveObjectsOptions{}) {
		if delErr == nil && e.Err != nil {
			delErr = e.Err
		}
	}
	if listErr != nil {
		return translate(listErr)
	}
	return translate(delErr)
}

// CreateUpload implements storage.Uploads. The lock settings are given to
// the S3 multipart upload now, so the object is locked the instant it
// appears at Complete.
func (s *Store) CreateUpload(ctx context.Context, ref storage.Ref, size int64, opts storage.PutOptions) (_ storage.UploadID, err error) {
	const op = "create-upload"
	if err := ref.Validate(); err != nil {
		return "", s.err(op, ref, err)
	}
	if size < 0 {
		return "", s.err(op, ref, fmt.Errorf("negative size %d: %w", size, storage.ErrInvalid))
	}
	mid, err := s.core.NewMultipartUpload(ctx, s.cfg.Bucket, key(ref), s.lockOptions(ref, opts))
	if err != nil {
		return "", s.err(op, ref, translate(err))
	}
	id := storage.UploadID(mid)
	defer func() {
		if err != nil {
			s.core.AbortMultipartUpload(context.WithoutCancel(ctx), s.cfg.Bucket, key(ref), mid)
		}
	}()
	if err := s.putJSON(ctx, recordPrefix(id)+"upload.json", storage.NewUploadRecord(ref, size, opts, time.Now())); err != nil {
		return "", s.err(op, ref, err)
	}
	return id, nil
}

func (s *Store) loadUpload(ctx context.Context, id storage.UploadID, ref storage.Ref) (storage.UploadRecord, error) {
	var rec storage.UploadRecord
	if id == "" {
		return rec, fmt.Errorf("empty upload id: %w", storage.ErrUploadNotFound)
	}
	if err := s.getJSON(ctx, recordPrefix(id)+"upload.json", &rec); err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return rec, fmt.Errorf("upload %s: %w", id, storage.ErrUploadNotFound)
		}
		return rec, err
	}
	return rec, rec.CheckRef(id, ref)
}

// loadParts returns the recorded parts in order, up to the first gap.
func (s *Store) loadParts(ctx context.Context, id storage.UploadID) ([]partRecord, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var keys []string
	for info := range s.client.ListObjects(ctx, s.cfg.Bucket, minio.ListObjectsOptions{Prefix: recordPrefix(id) + "part-"}) {
		if info.Err != nil {
			return nil, translate(info.Err)
		}
		keys = append(keys, info.Key)
	}
	// The records are read concurrently: a commit waits for one round
	// trip, not one per part.
	got := make([]*partRecord, len(keys))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(recordReaders)
	for i, k := range keys {
		g.Go(func() error {
			var p partRecord
			if err := s.getJSON(gctx, k, &p); err != nil {
				if errors.Is(err, storage.ErrNotFound) {
					return nil
				}
				return err
			}
			got[i] = &p
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	var recs []partRecord
	for _, p := range got {
		if p != nil {
			recs = append(recs, *p)
		}
	}
	slices.SortFunc(recs, func(a, b partRecord) int { return a.Number - b.Number })
	var off int64
	for i, p := range recs {
		if p.Number != i+1 || p.Offset != off {
			return recs[:i], nil
		}
		off = p.end()
	}
	return recs, nil
}

// WritePart implements storage.Uploads. Without partSum the part is read
// into one of the store's buffers (n may not exceed PartSize), hashed, and
// sent with its SHA-256 so the server rejects it if the bytes it receives
// differ. With partSum (the caller's expected part hash) nothing is
// buffered: the bytes stream to the server, which checks them against
// partSum as they arrive, while the whole-object hash is computed from the
// same bytes on their way through, so each byte is hashed here once.
func (s *Store) WritePart(ctx context.Context, id storage.UploadID, ref storage.Ref, prev *storage.Part, r io.Reader, n int64, partSum *storage.Digest) (storage.Part, error) {
	const op = "write-part"
	if err := ref.Validate(); err != nil {
		return storage.Part{}, s.err(op, ref, err)
	}
	if n < 0 || n > s.cfg.PartSize {
		return storage.Part{}, s.err(op, ref, fmt.Errorf("part size %d: want 0 to %d bytes (part_size): %w", n, s.cfg.PartSize, storage.ErrInvalid))
	}
	rec, err := s.loadUpload(ctx, id, ref)
	if err != nil {
		return storage.Part{}, s.err(op, ref, err)
	}
	number, offset := 1, int64(0)
	var state []byte
	if prev != nil {
		// prev must be a part we recorded, so the hash chain continues
		// from a state we produced, not one a caller made up. Only its
		// record is read: uploads of many parts stay linear.
		var pr partRecord
		if prev.Number < 1 || prev.Number >= maxParts {
			return storage.Part{}, s.err(op, ref, fmt.Errorf("previous part number %d: %w", prev.Number, storage.ErrInvalid))
		}
		if err := s.getJSON(ctx, partKey(id, prev.Number), &pr); err != nil {
			if errors.Is(err, storage.ErrNotFound) {
				return storage.Part{}, s.err(op, ref, fmt.Errorf("previous part %d is not recorded: %w", prev.Number, storage.ErrInvalid))
			}
			return storage.Part{}, s.err(op, ref, err)
		}
		if !prev.Equal(pr.part()) {
			return storage.Part{}, s.err(op, ref, fmt.Errorf("previous part %d does not match the recorded part: %w", prev.Number, storage.ErrInvalid))
		}
		number, offset, state = prev.Number+1, prev.End(), prev.HashState
	}
	if number > maxParts {
		return storage.Part{}, s.err(op, ref, fmt.Errorf("part %d exceeds the S3 limit of %d parts: %w", number, maxParts, storage.ErrInvalid))
	}
	if offset+n > rec.Size {
		return storage.Part{}, s.err(op, ref, fmt.Errorf("part %d of %d bytes at %d exceeds upload size %d: %w", number, n, offset, rec.Size, storage.ErrSizeMismatch))
	}
	whole, err := storage.RestoreHashState(state)
	if err != nil {
		return storage.Part{}, s.err(op, ref, err)
	}
	var (
		sum    storage.Digest
		body   io.Reader
		stream *hashingReader
	)
	if partSum != nil {
		sum = *partSum
		stream = &hashingReader{r: r, n: n, h: whole}
		body = stream
	} else {
		buf, err := s.getBuf(ctx)
		if err != nil {
			return storage.Part{}, s.err(op, ref, err)
		}
		defer s.putBuf(buf)
		part := buf[:n]
		if err := readPart(r, part); err != nil {
			return storage.Part{}, s.err(op, ref, fmt.Errorf("part %d: %w", number, err))
		}
		whole.Write(part)
		sum = sha256.Sum256(part)
		body = bytes.NewReader(part)
	}
	// Forget this part and later ones before replacing the bytes, so a
	// crash leaves the part unrecorded rather than misrecorded.
	if err := s.forgetPartsFrom(ctx, id, number); err != nil {
		return storage.Part{}, s.err(op, ref, err)
	}
	// X-Amz-Content-Sha256 carries sum: the server hashes what it
	// receives and refuses the part (XAmzContentSHA256Mismatch, our
	// ErrDigestMismatch) unless it matches. A streamed body is not
	// seekable, so minio-go sends it once and never re-reads it into the
	// whole-object hash.
	op2, err := s.core.PutObjectPart(ctx, s.cfg.Bucket, key(ref), string(id), number, body, n,
		minio.PutObjectPartOptions{Sha256Hex: sum.String(), DisableContentSha256: true})
	if stream != nil && stream.err != nil {
		// Our side failed (short or broken body): report that, not the
		// aborted request it caused.
		return storage.Part{}, s.err(op, ref, fmt.Errorf("part %d: %w", number, stream.err))
	}
	if err != nil {
		return storage.Part{}, s.err(op, ref, translate(err))
	}
	if stream != nil && stream.read != n {
		return storage.Part{}, s.err(op, ref, fmt.Errorf("part %d: server took %d of %d bytes: %w", number, stream.read, n, storage.ErrSizeMismatch))
	}
	hs, err := storage.MarshalHashState(whole)
	if err != nil {
		return storage.Part{}, s.err(op, ref, err)
	}
	pr := partRecord{Number: number, Offset: offset, Size: n, ETag: strings.Trim(op2.ETag, `"`), SHA256: sum.String(), HashState: hs}
	if err := s.putJSON(ctx, partKey(id, number), pr); err != nil {
		return storage.Part{}, s.err(op, ref, err)
	}
	return pr.part(), nil
}

// hashingReader passes exactly n bytes of r through, writing each to h
// (the whole-object hash) as it is read. A body that ends early fails with
// ErrSizeMismatch; err keeps the first failure so WritePart can report it
// rather than the request error it causes.
type hashingReader struct {
	r    io.Reader
	n    int64
	read int64
	h    io.Writer
	err  error
}

func (h *hashingReader) Read(p []byte) (int, error) {
	if h.err != nil {
		return 0, h.err
	}
	if h.read >= h.n {
		return 0, io.EOF
	}
	if rem := h.n - h.read; int64(len(p)) > rem {
		p = p[:rem]
	}
	n, err := h.r.Read(p)
	h.h.Write(p[:n])
	h.read += int64(n)
	if h.read == h.n {
		return n, io.EOF
	}
	switch {
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		h.err = fmt.Errorf("stream ended after %d of %d bytes: %w", h.read, h.n, storage.ErrSizeMismatch)
	case err != nil:
		h.err = err
	}
	if h.err != nil {
		return n, h.err
	}
	return n, nil
}

// forgetPartsFrom deletes the records of part n and all later parts,
// listing names only.
func (s *Store) forgetPartsFrom(ctx context.Context, id storage.UploadID, n int) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var stale []string
	for info := range s.client.ListObjects(ctx, s.cfg.Bucket, minio.ListObjectsOptions{Prefix: recordPrefix(id) + "part-", StartAfter: partKey(id, n-1)}) {
		if info.Err != nil {
			return translate(info.Err)
		}
		stale = append(stale, info.Key)
	}
	for _, k := range stale {
		if err := s.deletePrefix(ctx, k); err != nil {
			return err
		}
	}
	return nil
}

// ListParts implements storage.Uploads. It returns our records, which
// carry the hash states S3 itself does not keep.
func (s *Store) ListParts(ctx context.Context, id storage.UploadID, ref storage.Ref) ([]storage.Part, error) {
	if _, err := s.loadUpload(ctx, id, ref); err != nil {
		return nil, s.err("list-parts", ref, err)
	}
	recs, err := s.loadParts(ctx, id)
	if err != nil {
		return nil, s.err("list-parts", ref, err)
	}
	parts := make([]storage.Part, len(recs))
	for i, p := range recs {
		parts[i] = p.part()
	}
	return parts, nil
}

// serverParts lists the parts the server holds for an upload.
func (s *Store) serverParts(ctx context.Context, id storage.UploadID, ref storage.Ref) (map[int]minio.ObjectPart, error) {
	held := map[int]minio.ObjectPart{}
	marker := 0
	for {
		res, err := s.core.ListObjectParts(ctx, s.cfg.Bucket, key(ref), string(id), marker, 1000)
		if err != nil {
			return nil, translate(err)
		}
		for _, p := range res.ObjectParts {
			held[p.PartNumber] = p
		}
		if !res.IsTruncated {
			return held, nil
		}
		marker = res.NextPartNumberMarker
	}
}

// Complete implements storage.Uploads.
func (s *Store) Complete(ctx context.Context, id storage.UploadID, ref storage.Ref, parts []storage.Part) (storage.Object, error) {
	const op = "complete"
	if err := ref.Validate(); err != nil {
		return storage.Object{}, s.err(op, ref, err)
	}
	rec, err := s.loadUpload(ctx, id, ref)
	if err != nil {
		return storage.Object{}, s.err(op, ref, err)
	}
	recs, err := s.loadParts(ctx, id)
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
		if err := s.abort(context.WithoutCancel(ctx), id, ref); err != nil {
			cause = fmt.Errorf("%w (and abort failed: %v)", cause, err)
		}
		return storage.Object{}, s.err(op, ref, cause)
	}
	var total int64
	var state []byte
	if len(recs) > 0 {
		total, state = recs[len(recs)-1].end(), recs[len(recs)-1].HashState
	}
	if err := storage.CheckComplete(total, state, rec.Size, ref.Digest); err != nil {
		return abort(err)
	}
	if rec.Size == 0 {
		// S3 cannot complete an upload without parts: store the empty
		// object directly (its digest was just checked).
		if err := s.abort(ctx, id, ref); err != nil {
			return storage.Object{}, s.err(op, ref, err)
		}
		obj, err := s.putSmall(ctx, ref, 0, bytes.NewReader(nil), rec.PutOptions())
		if err != nil {
			return storage.Object{}, s.err(op, ref, err)
		}
		return obj, nil
	}
	held, err := s.serverParts(ctx, id, ref)
	if err != nil {
		return storage.Object{}, s.err(op, ref, err)
	}
	cps := make([]minio.CompletePart, len(recs))
	for i, p := range recs {
		h, ok := held[p.Number]
		if !ok || strings.Trim(h.ETag, `"`) != p.ETag || h.Size != p.Size {
			return abort(fmt.Errorf("server holds part %d as %q (%d bytes), recorded %q (%d bytes): %w", p.Number, h.ETag, h.Size, p.ETag, p.Size, storage.ErrDigestMismatch))
		}
		cps[i] = minio.CompletePart{PartNumber: p.Number, ETag: p.ETag}
	}
	obj, err := s.complete(ctx, ref, string(id), cps)
	if err != nil {
		return storage.Object{}, s.err(op, ref, err)
	}
	if err := s.deletePrefix(ctx, recordPrefix(id)); err != nil {
		return obj, s.err(op, ref, fmt.Errorf("object stored, upload records not removed: %w", err))
	}
	return obj, nil
}

// abort discards the S3 upload and our records of it. MinIO answers an
// abort of an unknown upload with success, so existence is checked first:
// through our record, or, for an upload whose record was never written,
// by asking the server for its parts.
func (s *Store) abort(ctx context.Context, id storage.UploadID, ref storage.Ref) error {
	if id == "" {
		return fmt.Errorf("empty upload id: %w", storage.ErrUploadNotFound)
	}
	if _, err := s.loadUpload(ctx, id, ref); err != nil {
		if !errors.Is(err, storage.ErrUploadNotFound) {
			return err
		}
		if _, lerr := s.core.ListObjectParts(ctx, s.cfg.Bucket, key(ref), string(id), 0, 1); lerr != nil {
			return fmt.Errorf("%v: %w", lerr, storage.ErrUploadNotFound)
		}
	}
	err := s.core.AbortMultipartUpload(ctx, s.cfg.Bucket, key(ref), string(id))
	if err != nil && minio.ToErrorResponse(err).Code != "NoSuchUpload" {
		return translate(err)
	}
	return s.deletePrefix(ctx, recordPrefix(id))
}

// Abort implements storage.Uploads.
func (s *Store) Abort(ctx context.Context, id storage.UploadID, ref storage.Ref) error {
	if err := ref.Validate(); err != nil {
		return s.err("abort", ref, err)
	}
	if err := s.abort(ctx, id, ref); err != nil {
		return s.err("abort", ref, err)
	}
	return nil
}

// ListUploads implements storage.Uploads. It reports the union of two
// sources, because neither is complete alone: our upload records (they
// survive a MinIO restart, while MinIO lists uploads bucket-wide only from
// an in-memory cache), and the server's bucket-wide listing (it also shows
// an upload whose record was never written, e.g. a crash right after
// CreateMultipartUpload). Both resumable uploads and the multipart uploads
// of large Puts are covered.
func (s *Store) ListUploads(ctx context.Context, olderThan time.Time, fn func(id storage.UploadID, ref storage.Ref, started time.Time) error) error {
	const op = "list-uploads"
	seen := map[storage.UploadID]bool{}
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for info := range s.client.ListObjects(lctx, s.cfg.Bucket, minio.ListObjectsOptions{Prefix: "_uploads/", Recursive: true}) {
		if info.Err != nil {
			return s.err(op, storage.Ref{}, translate(info.Err))
		}
		hexID, ok := strings.CutSuffix(strings.TrimPrefix(info.Key, "_uploads/"), "/upload.json")
		if !ok {
			continue
		}
		raw, err := hex.DecodeString(hexID)
		if err != nil {
			continue
		}
		var rec storage.UploadRecord
		if err := s.getJSON(lctx, info.Key, &rec); err != nil {
			if errors.Is(err, storage.ErrNotFound) {
				continue // finished meanwhile
			}
			return s.err(op, storage.Ref{}, err)
		}
		d, err := storage.ParseDigest(rec.Digest)
		if err != nil || !rec.Namespace.Valid() {
			continue
		}
		id := storage.UploadID(raw)
		seen[id] = true
		if !rec.Started.Before(olderThan) {
			continue
		}
		if err := fn(id, storage.Ref{Namespace: rec.Namespace, Digest: d}, rec.Started); err != nil {
			return err
		}
	}
	keyMarker, idMarker := "", ""
	for {
		res, err := s.core.ListMultipartUploads(ctx, s.cfg.Bucket, "", keyMarker, idMarker, "", 1000)
		if err != nil {
			return s.err(op, storage.Ref{}, translate(err))
		}
		for _, u := range res.Uploads {
			if seen[storage.UploadID(u.UploadID)] {
				continue
			}
			ns, hexd, ok := strings.Cut(u.Key, "/")
			if !ok || !storage.Namespace(ns).Valid() {
				continue
			}
			d, err := storage.ParseDigest(hexd)
			if err != nil {
				continue
			}
			if !u.Initiated.Before(olderThan) {
				continue
			}
			if err := fn(storage.UploadID(u.UploadID), storage.Ref{Namespace: storage.Namespace(ns), Digest: d}, u.Initiated); err != nil {
				return err
			}
		}
		if !res.IsTruncated {
			return nil
		}
		keyMarker, idMarker = res.NextKeyMarker, res.NextUploadIDMarker
	}
}
