package s3

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"sort"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/opendems/opendems/storage"
)

var _ storage.StreamCreator = (*Store)(nil)

// stagingPrefix holds streams being written. A process killed mid-stream
// leaves an unfinished multipart upload there (MinIO expires those after
// a day; on S3 use an abort-incomplete-multipart lifecycle rule) or, if
// killed between Commit's two steps, a finished staging object that a
// lifecycle rule on this prefix may expire. Neither is ever visible as an
// object of any namespace.
const stagingPrefix = "staging/"

// CreateStream implements storage.StreamCreator. Bytes fill PartSize
// buffers (from the store's pool, so memory stays PartSize×Buffers across
// all operations); each full buffer is sent as a part of a multipart
// upload to a staging key, with its SHA-256 for the server to check,
// while the whole-object SHA-256 is computed as bytes are written. Commit
// completes the staging object, copies it server-side (ComposeObject, any
// size) to the key of its digest with the retention and hold asked for,
// pinned to the staging version just written, and removes the staging
// object. The client reads each byte once; the copy costs the server a
// second write.
func (s *Store) CreateStream(ctx context.Context, ns storage.Namespace, opts storage.PutOptions) (storage.StreamWriter, error) {
	if !ns.Valid() {
		return nil, s.err("create-stream", storage.Ref{}, fmt.Errorf("namespace %q: %w", ns, storage.ErrInvalid))
	}
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, s.err("create-stream", storage.Ref{}, err)
	}
	k := stagingPrefix + hex.EncodeToString(b[:])
	id, err := s.core.NewMultipartUpload(ctx, s.cfg.Bucket, k, minio.PutObjectOptions{ContentType: "application/octet-stream", DisableContentSha256: true})
	if err != nil {
		return nil, s.err("create-stream", storage.Ref{}, translate(err))
	}
	// The stream's writes carry no context: the parts are sent on this
	// one, which Abort and Commit end.
	sctx, cancel := context.WithCancel(ctx)
	return &stream{s: s, ns: ns, opts: opts, ctx: sctx, cancel: cancel, key: k, id: id, whole: sha256.New()}, nil
}

type stream struct {
	s      *Store
	ns     storage.Namespace
	opts   storage.PutOptions
	ctx    context.Context
	cancel context.CancelFunc
	key    string
	id     string
	whole  hash.Hash
	size   int64
	buf    []byte // the part being filled
	fill   int
	next   int // number of the next part
	done   bool

	wg      sync.WaitGroup
	mu      sync.Mutex
	parts   []minio.CompletePart
	sendErr error
}

func (w *stream) failed() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.sendErr
}

func (w *stream) Write(p []byte) (int, error) {
	if w.done {
		return 0, w.s.err("stream-write", storage.Ref{}, errors.New("stream already committed or aborted"))
	}
	written := 0
	for written < len(p) {
		if err := w.failed(); err != nil {
			return written, w.s.err("stream-write", storage.Ref{}, err)
		}
		if w.buf == nil {
			b, err := w.s.getBuf(w.ctx)
			if err != nil {
				return written, w.s.err("stream-write", storage.Ref{}, err)
			}
			w.buf, w.fill = b[:w.s.cfg.PartSize], 0
		}
		n := copy(w.buf[w.fill:], p[written:])
		w.whole.Write(p[written : written+n])
		w.fill += n
		written += n
		w.size += int64(n)
		if w.fill == len(w.buf) {
			w.send()
		}
	}
	return written, nil
}

// send uploads the filled buffer as the next part, in the background.
func (w *stream) send() {
	buf := w.buf[:w.fill]
	w.buf, w.fill = nil, 0
	w.next++
	n := w.next
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		defer w.s.putBuf(buf)
		sum := sha256.Sum256(buf)
		p, err := w.s.core.PutObjectPart(w.ctx, w.s.cfg.Bucket, w.key, w.id, n, bytes.NewReader(buf), int64(len(buf)),
			minio.PutObjectPartOptions{Sha256Hex: hex.EncodeToString(sum[:]), DisableContentSha256: true})
		w.mu.Lock()
		defer w.mu.Unlock()
		if err != nil {
			if w.sendErr == nil {
				w.sendErr = translate(err)
			}
			return
		}
		w.parts = append(w.parts, minio.CompletePart{PartNumber: n, ETag: p.ETag})
	}()
}

func (w *stream) Commit(ctx context.Context) (storage.Object, error) {
	if w.done {
		return storage.Object{}, w.s.err("stream-commit", storage.Ref{}, errors.New("stream already committed or aborted"))
	}
	var ref storage.Ref
	ref.Namespace = w.ns
	w.whole.Sum(ref.Digest[:0])
	fail := func(err error) (storage.Object, error) {
		w.Abort()
		return storage.Object{}, w.s.err("stream-commit", ref, err)
	}
	if w.fill > 0 || w.next == 0 { // the last part (one empty part for an empty object)
		if w.buf == nil {
			b, err := w.s.getBuf(w.ctx)
			if err != nil {
				return fail(err)
			}
			w.buf, w.fill = b, 0
		}
		w.send()
	}
	w.wg.Wait()
	if err := w.failed(); err != nil {
		return fail(err)
	}
	if ctx.Err() != nil {
		return fail(ctx.Err())
	}
	sort.Slice(w.parts, func(i, j int) bool { return w.parts[i].PartNumber < w.parts[j].PartNumber })
	staged, err := w.s.core.CompleteMultipartUpload(ctx, w.s.cfg.Bucket, w.key, w.id, w.parts, minio.PutObjectOptions{})
	if err != nil {
		return fail(translate(err))
	}
	w.done = true
	w.cancel()
	defer func() {
		// The staging object goes whatever happened; a cancelled ctx must
		// not keep the cleanup from running.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		w.s.removeAllVersions(cctx, w.key)
	}()
	if obj, _, err := w.s.stat(ctx, ref); err == nil {
		return obj, nil // stored before: unchanged, as with Put
	} else if !errors.Is(err, storage.ErrNotFound) {
		return storage.Object{}, w.s.err("stream-commit", ref, err)
	}
	lo := w.s.lockOptions(ref, w.opts)
	dst := minio.CopyDestOptions{Bucket: w.s.cfg.Bucket, Object: key(ref), ReplaceMetadata: true, ContentType: lo.ContentType,
		Mode: lo.Mode, RetainUntilDate: lo.RetainUntilDate, LegalHold: lo.LegalHold}
	src := minio.CopySrcOptions{Bucket: w.s.cfg.Bucket, Object: w.key, VersionID: staged.VersionID}
	if _, err := w.s.client.ComposeObject(ctx, dst, src); err != nil {
		return storage.Object{}, w.s.err("stream-commit", ref, translate(err))
	}
	obj, _, err := w.s.stat(ctx, ref)
	if err != nil {
		return storage.Object{}, w.s.err("stream-commit", ref, err)
	}
	if obj.Size != w.size {
		return storage.Object{}, w.s.err("stream-commit", ref, fmt.Errorf("copied %d bytes, wrote %d: %w", obj.Size, w.size, storage.ErrSizeMismatch))
	}
	return obj, nil
}

func (w *stream) Abort() error {
	if w.done {
		return nil
	}
	w.done = true
	w.cancel()
	w.wg.Wait()
	if w.buf != nil && cap(w.buf) > 0 {
		w.s.putBuf(w.buf)
		w.buf = nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := w.s.core.AbortMultipartUpload(ctx, w.s.cfg.Bucket, w.key, w.id); err != nil && minio.ToErrorResponse(err).Code != "NoSuchUpload" {
		return w.s.err("stream-abort", storage.Ref{}, translate(err))
	}
	return nil
}
