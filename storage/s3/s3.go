package s3

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/opendems/opendems/storage"
)

const backendName = "s3"

// Errors Check returns, each wrapped in a *storage.Error with the detail.
var (
	// ErrUnreachable: the endpoint did not answer (DNS, refused, timeout).
	ErrUnreachable = errors.New("s3 endpoint unreachable")
	// ErrCredentials: the server rejected the access key or signature,
	// or the key may not use the bucket.
	ErrCredentials = errors.New("s3 credentials rejected")
	// ErrNoObjectLock: the bucket exists without Object Lock, so the
	// server could not enforce retention or legal hold.
	ErrNoObjectLock = errors.New("s3 bucket has no Object Lock")
)

// errExists is internal: a conditional write found the key taken.
var errExists = errors.New("object already exists")

// Store is a storage.Backend on one S3 bucket. Create it with New.
type Store struct {
	cfg    Config
	client *minio.Client
	core   minio.Core
	// bufs is the store-wide pool of part buffers; its capacity is the
	// memory bound. A nil slice in it stands for a not yet allocated one.
	bufs chan []byte
}

var _ storage.Backend = (*Store)(nil)

// New returns a Store for cfg. It does not contact the server; call Check.
func New(cfg Config) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, &storage.Error{Op: "open", Backend: backendName, Err: err}
	}
	cfg = cfg.withDefaults()
	client, err := minio.New(cfg.Endpoint, &minio.Options{
		Creds:  credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
		Secure: cfg.UseTLS,
		Region: cfg.Region,
		// Few retries: a dead endpoint must fail Check in seconds, and
		// parts are retried by the caller of the upload protocol anyway.
		MaxRetries: 3,
		Transport:  cfg.Transport,
	})
	if err != nil {
		return nil, &storage.Error{Op: "open", Backend: backendName, Err: fmt.Errorf("%w: %v", ErrConfig, err)}
	}
	s := &Store{cfg: cfg, client: client, core: minio.Core{Client: client}, bufs: make(chan []byte, cfg.Buffers)}
	for range cfg.Buffers {
		s.bufs <- nil
	}
	return s, nil
}

// Name returns "s3".
func (s *Store) Name() string { return backendName }

// Config returns the configuration in use (with defaults applied).
func (s *Store) Config() Config { return s.cfg }

// Client returns the underlying minio client, for tests and tooling that
// need to inspect the bucket directly.
func (s *Store) Client() *minio.Client { return s.client }

func (s *Store) err(op string, ref storage.Ref, err error) error {
	return &storage.Error{Op: op, Backend: backendName, Ref: ref, Err: err}
}

func (s *Store) getBuf(ctx context.Context) ([]byte, error) {
	select {
	case b := <-s.bufs:
		if b == nil {
			b = make([]byte, s.cfg.PartSize)
		}
		return b, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (s *Store) putBuf(b []byte) { s.bufs <- b[:cap(b)] }

func key(ref storage.Ref) string { return string(ref.Namespace) + "/" + ref.Digest.String() }

// translate maps minio errors to storage sentinels, keeping the server's
// message. Everything else passes through.
func translate(err error) error {
	if err == nil {
		return nil
	}
	var netErr net.Error
	if errors.As(err, &netErr) {
		return &causeError{kind: ErrUnreachable, cause: err}
	}
	resp := minio.ToErrorResponse(err)
	var kind error
	switch resp.Code {
	case "":
		if strings.Contains(err.Error(), "is offline") || strings.Contains(err.Error(), "connection refused") {
			return &causeError{kind: ErrUnreachable, cause: err}
		}
		return err
	case "NoSuchKey", "NoSuchVersion":
		kind = storage.ErrNotFound
	case "NoSuchUpload":
		kind = storage.ErrUploadNotFound
	case "InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied":
		kind = ErrCredentials
	case "XAmzContentSHA256Mismatch", "BadDigest", "InvalidDigest":
		kind = storage.ErrDigestMismatch
	case "IncompleteBody", "EntityTooSmall", "EntityTooLarge":
		kind = storage.ErrSizeMismatch
	case "PreconditionFailed":
		kind = errExists
	case "ObjectLocked":
		kind = storage.ErrRetained
	case "ObjectLockConfigurationNotFoundError", "InvalidRequest":
		switch msg := strings.ToLower(resp.Message); {
		case strings.Contains(msg, "worm protected"):
			// MinIO's refusal to delete or overwrite a locked version.
			kind = storage.ErrRetained
		case strings.Contains(msg, "object lock"):
			kind = ErrNoObjectLock
		}
	}
	if kind == nil {
		return err
	}
	return &causeError{kind: kind, cause: fmt.Errorf("%s (%s)", resp.Message, resp.Code)}
}

// causeError is a translated error: it matches its kind with errors.Is and
// prints the kind and the server's own words once each.
type causeError struct {
	kind  error
	cause error
}

func (e *causeError) Error() string { return e.kind.Error() + ": " + e.cause.Error() }
func (e *causeError) Unwrap() error { return e.kind }

// Check verifies that the endpoint answers, the credentials work, and the
// bucket exists with Object Lock, creating it (with Object Lock) if absent.
func (s *Store) Check(ctx context.Context) error {
	fail := func(kind error, format string, args ...any) error {
		return s.err("check", storage.Ref{}, fmt.Errorf("%w: "+format, append([]any{kind}, args...)...))
	}
	exists, err := s.client.BucketExists(ctx, s.cfg.Bucket)
	if err != nil {
		err = translate(err)
		var ce *causeError
		errors.As(err, &ce)
		switch {
		case errors.Is(err, ErrUnreachable):
			return fail(ErrUnreachable, "%s: %v", s.cfg.Endpoint, ce.cause)
		case errors.Is(err, ErrCredentials):
			return fail(ErrCredentials, "access key %q at %s cannot use bucket %q: %v", s.cfg.AccessKey, s.cfg.Endpoint, s.cfg.Bucket, ce.cause)
		}
		return s.err("check", storage.Ref{}, fmt.Errorf("bucket %q at %s: %w", s.cfg.Bucket, s.cfg.Endpoint, err))
	}
	if !exists {
		err := s.client.MakeBucket(ctx, s.cfg.Bucket, minio.MakeBucketOptions{Region: s.cfg.Region, ObjectLocking: true})
		if err != nil {
			code := minio.ToErrorResponse(err).Code
			if code != "BucketAlreadyOwnedByYou" && code != "BucketAlreadyExists" {
				return s.err("check", storage.Ref{}, fmt.Errorf("create bucket %q with Object Lock: %w", s.cfg.Bucket, translate(err)))
			}
		}
	}
	enabled, _, _, _, err := s.client.GetObjectLockConfig(ctx, s.cfg.Bucket)
	if err != nil {
		if code := minio.ToErrorResponse(err).Code; code == "ObjectLockConfigurationNotFoundError" {
			return fail(ErrNoObjectLock, "bucket %q exists without Object Lock; retention and legal hold cannot be enforced. Object Lock can only be chosen when a bucket is created: use a new bucket", s.cfg.Bucket)
		}
		return s.err("check", storage.Ref{}, fmt.Errorf("read Object Lock configuration of %q: %w", s.cfg.Bucket, translate(err)))
	}
	if enabled != "Enabled" {
		return fail(ErrNoObjectLock, "bucket %q has Object Lock %q, want Enabled", s.cfg.Bucket, enabled)
	}
	return nil
}

// roundUp returns t rounded up to a whole second: S3 stores retain-until
// in seconds, and rounding down would release an object early.
func roundUp(t time.Time) time.Time {
	r := t.Truncate(time.Second)
	if r.Before(t) {
		r = r.Add(time.Second)
	}
	return r.UTC()
}

// lockOptions returns the object options carrying retention and hold.
func (s *Store) lockOptions(ref storage.Ref, opts storage.PutOptions) minio.PutObjectOptions {
	o := minio.PutObjectOptions{ContentType: opts.ContentType, DisableContentSha256: true}
	until := opts.RetainUntil
	if until.IsZero() && ref.Namespace == storage.Originals && s.cfg.DefaultRetention > 0 {
		until = time.Now().Add(s.cfg.DefaultRetention)
	}
	if !until.IsZero() {
		o.Mode = minio.RetentionMode(s.cfg.RetentionMode)
		o.RetainUntilDate = roundUp(until)
	}
	if opts.LegalHold {
		o.LegalHold = minio.LegalHoldEnabled
	}
	if o.ContentType == "" {
		o.ContentType = "application/octet-stream"
	}
	return o
}

// objectFromInfo reads size, times and lock state from a HEAD response.
func objectFromInfo(ref storage.Ref, info minio.ObjectInfo) storage.Object {
	obj := storage.Object{Ref: ref, Size: info.Size, Created: info.LastModified}
	if v := info.Metadata.Get("X-Amz-Object-Lock-Retain-Until-Date"); v != "" {
		if t, err := time.Parse(time.RFC3339, v); err == nil {
			obj.RetainUntil = t.UTC()
		}
	}
	obj.LegalHold = strings.EqualFold(info.Metadata.Get("X-Amz-Object-Lock-Legal-Hold"), "ON")
	return obj
}

func (s *Store) stat(ctx context.Context, ref storage.Ref) (storage.Object, minio.ObjectInfo, error) {
	info, err := s.client.StatObject(ctx, s.cfg.Bucket, key(ref), minio.StatObjectOptions{})
	if err != nil {
		return storage.Object{}, info, translate(err)
	}
	return objectFromInfo(ref, info), info, nil
}

// Stat implements storage.Store.
func (s *Store) Stat(ctx context.Context, ref storage.Ref) (storage.Object, error) {
	if err := ref.Validate(); err != nil {
		return storage.Object{}, s.err("stat", ref, err)
	}
	obj, _, err := s.stat(ctx, ref)
	if err != nil {
		return storage.Object{}, s.err("stat", ref, err)
	}
	return obj, nil
}

// Open implements storage.Store.
func (s *Store) Open(ctx context.Context, ref storage.Ref, offset, length int64) (io.ReadCloser, error) {
	if err := ref.Validate(); err != nil {
		return nil, s.err("open", ref, err)
	}
	obj, info, err := s.stat(ctx, ref)
	if err != nil {
		return nil, s.err("open", ref, err)
	}
	n, err := storage.ClampRange(obj.Size, offset, length)
	if err != nil {
		return nil, s.err("open", ref, err)
	}
	if n == 0 {
		return io.NopCloser(bytes.NewReader(nil)), nil
	}
	// Pin the version and ETag we described, so the range comes from the
	// same object even if the key changed meanwhile.
	opts := minio.GetObjectOptions{VersionID: info.VersionID}
	if err := opts.SetRange(offset, offset+n-1); err != nil {
		return nil, s.err("open", ref, fmt.Errorf("%v: %w", err, storage.ErrInvalid))
	}
	rc, _, _, err := s.core.GetObject(ctx, s.cfg.Bucket, key(ref), opts)
	if err != nil {
		return nil, s.err("open", ref, translate(err))
	}
	return rc, nil
}

// List implements storage.Store.
func (s *Store) List(ctx context.Context, ns storage.Namespace, fn func(storage.Object) error) error {
	if !ns.Valid() {
		return s.err("list", storage.Ref{Namespace: ns}, fmt.Errorf("unknown namespace %q: %w", ns, storage.ErrInvalid))
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // stops the listing goroutine when fn fails
	for info := range s.client.ListObjects(ctx, s.cfg.Bucket, minio.ListObjectsOptions{Prefix: string(ns) + "/"}) {
		if info.Err != nil {
			return s.err("list", storage.Ref{Namespace: ns}, translate(info.Err))
		}
		d, err := storage.ParseDigest(strings.TrimPrefix(info.Key, string(ns)+"/"))
		if err != nil {
			continue // not ours
		}
		ref := storage.Ref{Namespace: ns, Digest: d}
		// Listings carry no lock state; HEAD each object for it.
		obj, _, err := s.stat(ctx, ref)
		if errors.Is(err, storage.ErrNotFound) {
			continue
		}
		if err != nil {
			return s.err("list", ref, err)
		}
		if err := fn(obj); err != nil {
			return err
		}
	}
	return ctx.Err()
}

func retained(obj storage.Object) error {
	if obj.LegalHold {
		return fmt.Errorf("legal hold is set: %w", storage.ErrRetained)
	}
	if !obj.RetainUntil.IsZero() && time.Now().Before(obj.RetainUntil) {
		return fmt.Errorf("retained until %s: %w", obj.RetainUntil.Format(time.RFC3339), storage.ErrRetained)
	}
	return nil
}

// Delete implements storage.Store. It never sends the governance bypass.
func (s *Store) Delete(ctx context.Context, ref storage.Ref) error {
	if err := ref.Validate(); err != nil {
		return s.err("delete", ref, err)
	}
	obj, _, err := s.stat(ctx, ref)
	if err != nil {
		return s.err("delete", ref, err)
	}
	if err := retained(obj); err != nil {
		return s.err("delete", ref, err)
	}
	if err := s.removeAllVersions(ctx, key(ref)); err != nil {
		return s.err("delete", ref, err)
	}
	return nil
}

// removeAllVersions deletes every version and delete marker of k. The
// server refuses locked versions; that refusal is ErrRetained.
func (s *Store) removeAllVersions(ctx context.Context, k string) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for v := range s.client.ListObjects(ctx, s.cfg.Bucket, minio.ListObjectsOptions{Prefix: k, WithVersions: true}) {
		if v.Err != nil {
			return translate(v.Err)
		}
		if v.Key != k {
			continue
		}
		err := s.client.RemoveObject(ctx, s.cfg.Bucket, k, minio.RemoveObjectOptions{VersionID: v.VersionID})
		if err != nil {
			// AWS answers AccessDenied for a locked version, MinIO
			// InvalidRequest "WORM protected"; both mean retained.
			if minio.ToErrorResponse(err).Code == "AccessDenied" {
				return fmt.Errorf("server refused: %s: %w", minio.ToErrorResponse(err).Message, storage.ErrRetained)
			}
			return translate(err)
		}
	}
	return nil
}

// ExtendRetention implements storage.Store. It reads the current
// retention first and never sends a shorter date.
func (s *Store) ExtendRetention(ctx context.Context, ref storage.Ref, until time.Time) error {
	const op = "extend-retention"
	if err := ref.Validate(); err != nil {
		return s.err(op, ref, err)
	}
	if until.IsZero() {
		return s.err(op, ref, fmt.Errorf("zero retain-until: %w", storage.ErrInvalid))
	}
	_, info, err := s.stat(ctx, ref)
	if err != nil {
		return s.err(op, ref, err)
	}
	mode, cur, err := s.client.GetObjectRetention(ctx, s.cfg.Bucket, key(ref), info.VersionID)
	if err != nil && minio.ToErrorResponse(err).Code != "NoSuchObjectLockConfiguration" {
		return s.err(op, ref, translate(err))
	}
	until = roundUp(until)
	if cur != nil && until.Before(*cur) {
		return s.err(op, ref, fmt.Errorf("retained until %s, refused %s: %w", cur.UTC().Format(time.RFC3339), until.Format(time.RFC3339), storage.ErrRetentionShortened))
	}
	m := minio.RetentionMode(s.cfg.RetentionMode)
	if mode != nil && mode.IsValid() {
		m = *mode // keep the mode the object was locked with
	}
	err = s.client.PutObjectRetention(ctx, s.cfg.Bucket, key(ref), minio.PutObjectRetentionOptions{Mode: &m, RetainUntilDate: &until, VersionID: info.VersionID})
	if err != nil {
		return s.err(op, ref, translate(err))
	}
	return nil
}

// SetLegalHold implements storage.Store.
func (s *Store) SetLegalHold(ctx context.Context, ref storage.Ref, on bool) error {
	if err := ref.Validate(); err != nil {
		return s.err("legal-hold", ref, err)
	}
	_, info, err := s.stat(ctx, ref)
	if err != nil {
		return s.err("legal-hold", ref, err)
	}
	st := minio.LegalHoldDisabled
	if on {
		st = minio.LegalHoldEnabled
	}
	if err := s.client.PutObjectLegalHold(ctx, s.cfg.Bucket, key(ref), minio.PutObjectLegalHoldOptions{VersionID: info.VersionID, Status: &st}); err != nil {
		return s.err("legal-hold", ref, translate(err))
	}
	return nil
}

// Put implements storage.Store. See the package documentation for why
// nothing is visible before the digest was verified.
func (s *Store) Put(ctx context.Context, ref storage.Ref, size int64, r io.Reader, opts storage.PutOptions) (storage.Object, error) {
	if err := ref.Validate(); err != nil {
		return storage.Object{}, s.err("put", ref, err)
	}
	if size < 0 {
		return storage.Object{}, s.err("put", ref, fmt.Errorf("negative size %d: %w", size, storage.ErrInvalid))
	}
	// An existing object is not uploaded again, but the stream is still
	// read and verified: success always vouches for the caller's bytes.
	if obj, _, err := s.stat(ctx, ref); err == nil {
		v := storage.NewHashingReader(io.LimitReader(r, size+1), ref.Digest, size)
		if _, err := io.Copy(io.Discard, v); err != nil {
			return storage.Object{}, s.err("put", ref, err)
		}
		if !v.Verified() {
			return storage.Object{}, s.err("put", ref, fmt.Errorf("stream ended unverified: %w", storage.ErrSizeMismatch))
		}
		return obj, nil
	} else if !errors.Is(err, storage.ErrNotFound) {
		return storage.Object{}, s.err("put", ref, err)
	}
	var obj storage.Object
	var err error
	if size <= s.cfg.PartSize {
		obj, err = s.putSmall(ctx, ref, size, r, opts)
	} else {
		obj, err = s.putMultipart(ctx, ref, size, r, opts)
	}
	if err != nil {
		return storage.Object{}, s.err("put", ref, err)
	}
	return obj, nil
}

// readPart fills buf from r; it returns ErrSizeMismatch on a short read.
func readPart(r io.Reader, buf []byte) error {
	if _, err := io.ReadFull(r, buf); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return fmt.Errorf("stream ended early: %w", storage.ErrSizeMismatch)
		}
		return err
	}
	return nil
}

// expectEOF fails if r has more bytes than declared.
func expectEOF(r io.Reader) error {
	var one [1]byte
	n, err := io.ReadFull(r, one[:])
	if n > 0 {
		return fmt.Errorf("stream longer than declared: %w", storage.ErrSizeMismatch)
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}

func (s *Store) putSmall(ctx context.Context, ref storage.Ref, size int64, r io.Reader, opts storage.PutOptions) (storage.Object, error) {
	buf, err := s.getBuf(ctx)
	if err != nil {
		return storage.Object{}, err
	}
	defer s.putBuf(buf)
	buf = buf[:size]
	if err := readPart(r, buf); err != nil {
		return storage.Object{}, err
	}
	if err := expectEOF(r); err != nil {
		return storage.Object{}, err
	}
	sum := sha256.Sum256(buf)
	if sum != ref.Digest {
		return storage.Object{}, fmt.Errorf("content hashes to %s: %w", storage.Digest(sum), storage.ErrDigestMismatch)
	}
	if obj, _, err := s.stat(ctx, ref); err == nil {
		return obj, nil
	} else if !errors.Is(err, storage.ErrNotFound) {
		return storage.Object{}, err
	}
	po := s.lockOptions(ref, opts)
	po.SetMatchETagExcept("*")
	// The SHA-256 goes in X-Amz-Content-Sha256: the server re-checks the
	// bytes it receives against the digest we verified.
	_, err = s.core.PutObject(ctx, s.cfg.Bucket, key(ref), bytes.NewReader(buf), size, "", hex.EncodeToString(sum[:]), po)
	if err = translate(err); err != nil && !errors.Is(err, errExists) {
		return storage.Object{}, err
	}
	obj, _, err := s.stat(ctx, ref)
	return obj, err
}

// sentPart is one uploaded part of putMultipart.
type sentPart struct {
	n    int
	etag string
	err  error
}

func (s *Store) putMultipart(ctx context.Context, ref storage.Ref, size int64, r io.Reader, opts storage.PutOptions) (_ storage.Object, err error) {
	if (size+s.cfg.PartSize-1)/s.cfg.PartSize > maxParts {
		return storage.Object{}, fmt.Errorf("%d bytes need more than %d parts of %d bytes; raise part_size: %w", size, maxParts, s.cfg.PartSize, storage.ErrInvalid)
	}
	k := key(ref)
	id, err := s.core.NewMultipartUpload(ctx, s.cfg.Bucket, k, s.lockOptions(ref, opts))
	if err != nil {
		return storage.Object{}, translate(err)
	}
	completed := false
	defer func() {
		// A cancelled ctx must not keep the cleanup from running.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if !completed {
			if aerr := s.core.AbortMultipartUpload(cctx, s.cfg.Bucket, k, id); aerr != nil && minio.ToErrorResponse(aerr).Code != "NoSuchUpload" {
				err = fmt.Errorf("%w (abort of upload %s failed: %v)", err, id, aerr)
				return // keep the record: ListUploads must find this upload
			}
		}
		if derr := s.deletePrefix(cctx, recordPrefix(storage.UploadID(id))); derr != nil && err == nil {
			err = fmt.Errorf("object stored, upload record not removed: %w", derr)
		}
	}()
	// A record makes the upload findable by ListUploads even after a
	// MinIO restart (MinIO lists uploads bucket-wide only from memory).
	if err := s.putJSON(ctx, recordPrefix(storage.UploadID(id))+"upload.json", storage.NewUploadRecord(ref, size, opts, time.Now())); err != nil {
		return storage.Object{}, err
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	whole := sha256.New()
	results := make(chan sentPart, (size+s.cfg.PartSize-1)/s.cfg.PartSize)
	inflight := 0
	var readErr error
	for off, n := int64(0), 1; off < size; n++ {
		if err := ctx.Err(); err != nil {
			readErr = err
			break
		}
		buf, err := s.getBuf(ctx)
		if err != nil {
			readErr = err
			break
		}
		part := buf[:min(s.cfg.PartSize, size-off)]
		if err := readPart(r, part); err != nil {
			s.putBuf(buf)
			readErr = err
			break
		}
		whole.Write(part)
		off += int64(len(part))
		inflight++
		go func() {
			defer s.putBuf(buf)
			sum := sha256.Sum256(part)
			p, err := s.core.PutObjectPart(ctx, s.cfg.Bucket, k, id, n, bytes.NewReader(part), int64(len(part)),
				minio.PutObjectPartOptions{Sha256Hex: hex.EncodeToString(sum[:]), DisableContentSha256: true})
			if err != nil {
				cancel() // stop reading and sending: the Put has failed
			}
			results <- sentPart{n: n, etag: p.ETag, err: err}
		}()
	}
	if readErr == nil {
		readErr = expectEOF(r)
	}
	if readErr != nil {
		cancel()
	}
	parts := make([]minio.CompletePart, inflight)
	var sendErr error
	for range inflight {
		res := <-results
		if res.err != nil && sendErr == nil {
			sendErr = translate(res.err)
			cancel()
		}
		parts[res.n-1] = minio.CompletePart{PartNumber: res.n, ETag: res.etag}
	}
	// Report the cause, not the cancellation it triggered on the other
	// side: a short stream cancels the sends, a failed send the reading.
	if readErr != nil && !errors.Is(readErr, context.Canceled) {
		return storage.Object{}, readErr
	}
	if sendErr != nil {
		return storage.Object{}, sendErr
	}
	if readErr != nil {
		return storage.Object{}, readErr
	}
	var got storage.Digest
	whole.Sum(got[:0])
	if got != ref.Digest {
		return storage.Object{}, fmt.Errorf("content hashes to %s: %w", got, storage.ErrDigestMismatch)
	}
	obj, err := s.complete(ctx, ref, id, parts)
	if err != nil {
		return storage.Object{}, err
	}
	completed = true
	return obj, nil
}

// complete commits a verified multipart upload, or aborts it and returns
// the existing object when the key is already taken.
func (s *Store) complete(ctx context.Context, ref storage.Ref, id string, parts []minio.CompletePart) (storage.Object, error) {
	if obj, _, err := s.stat(ctx, ref); err == nil {
		if err := s.core.AbortMultipartUpload(ctx, s.cfg.Bucket, key(ref), id); err != nil && minio.ToErrorResponse(err).Code != "NoSuchUpload" {
			return storage.Object{}, translate(err)
		}
		return obj, nil
	} else if !errors.Is(err, storage.ErrNotFound) {
		return storage.Object{}, err
	}
	po := minio.PutObjectOptions{}
	po.SetMatchETagExcept("*")
	_, err := s.core.CompleteMultipartUpload(ctx, s.cfg.Bucket, key(ref), id, parts, po)
	if err = translate(err); err != nil {
		if !errors.Is(err, errExists) {
			return storage.Object{}, err
		}
		if aerr := s.core.AbortMultipartUpload(ctx, s.cfg.Bucket, key(ref), id); aerr != nil && minio.ToErrorResponse(aerr).Code != "NoSuchUpload" {
			return storage.Object{}, translate(aerr)
		}
	}
	obj, _, err := s.stat(ctx, ref)
	return obj, err
}
