package dock

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/opendems/opendems/evidence/ingest/receipt"
	"github.com/opendems/opendems/evidence/ingest/wire"
)

// Kind classifies an upload failure.
type Kind int

const (
	// Transient failures (network, server or store down, busy session)
	// are retried with backoff for as long as it takes.
	Transient Kind = iota
	// Auth failures (token refused, dock revoked) are not the file's
	// fault: retry much later, never quarantine.
	Auth
	// Permanent failures mean the file's bytes cannot become evidence as
	// they are (the server computed another hash or size, the file changed
	// while uploading, the receipt does not match): they count toward
	// quarantine.
	Permanent
)

func (k Kind) String() string {
	switch k {
	case Auth:
		return "auth"
	case Permanent:
		return "permanent"
	}
	return "transient"
}

// UploadError is a failed upload with its classification.
type UploadError struct {
	Kind Kind
	Op   string
	Err  error
}

func (e *UploadError) Error() string { return fmt.Sprintf("dock: %s (%s): %v", e.Op, e.Kind, e.Err) }
func (e *UploadError) Unwrap() error { return e.Err }

// Classify tells how to treat an error from the protocol.
func Classify(err error) Kind {
	var ue *UploadError
	if errors.As(err, &ue) {
		return ue.Kind
	}
	var we *wire.Error
	if errors.As(err, &we) {
		switch {
		case we.HTTPStatus == http.StatusUnauthorized || we.Code == wire.CodeUnauthenticated:
			return Auth
		case we.Code == wire.CodeForbidden:
			return Auth
		case we.Permanent():
			return Permanent
		}
	}
	if errors.Is(err, receipt.ErrBadSignature) || errors.Is(err, receipt.ErrWrongKey) || errors.Is(err, receipt.ErrMismatch) {
		return Permanent
	}
	return Transient
}

// Backoff is an exponential backoff with full jitter.
type Backoff struct {
	Initial time.Duration // first delay (default 1s)
	Max     time.Duration // cap (default 5m)
}

// Delay returns the wait before attempt n (0-based).
func (b Backoff) Delay(n int) time.Duration {
	initial, maxD := b.Initial, b.Max
	if initial <= 0 {
		initial = time.Second
	}
	if maxD <= 0 {
		maxD = 5 * time.Minute
	}
	d := initial
	for i := 0; i < n && d < maxD; i++ {
		d *= 2
	}
	d = min(d, maxD)
	// Full jitter between d/2 and d: docks restarted together spread out.
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
}

// Hash is the whole-file SHA-256 and size of a file, and the SHA-256 of
// each chunk of ChunkSize bytes, computed in the same pass so the upload
// does not read the file twice more.
type Hash struct {
	SHA256    string // hex
	Size      int64
	ChunkSize int64      `json:"-"`
	Chunks    [][32]byte `json:"-"`
}

// HashChunkSize is the chunk size HashFile precomputes chunk hashes for:
// the server's default (other sizes are hashed while uploading).
const HashChunkSize = 16 << 20

// HashFile hashes the file at path, reporting progress (bytes read).
func HashFile(ctx context.Context, path string, progress func(int64)) (Hash, error) {
	f, err := os.Open(path)
	if err != nil {
		return Hash{}, fmt.Errorf("dock: hash: %w", err)
	}
	defer f.Close()
	whole, chunk := sha256.New(), sha256.New()
	h := Hash{ChunkSize: HashChunkSize}
	buf := make([]byte, 1<<20) // divides HashChunkSize
	var inChunk int64
	r := &limitedReader{ctx: ctx, r: ctxReader{ctx, f}, progress: progress}
	for {
		n, err := io.ReadFull(r, buf[:min(int64(len(buf)), HashChunkSize-inChunk)])
		if n > 0 {
			whole.Write(buf[:n])
			chunk.Write(buf[:n])
			h.Size += int64(n)
			inChunk += int64(n)
			if inChunk == HashChunkSize {
				h.Chunks = append(h.Chunks, [32]byte(chunk.Sum(nil)))
				chunk.Reset()
				inChunk = 0
			}
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			return Hash{}, fmt.Errorf("dock: hash %s: %w", path, err)
		}
	}
	if inChunk > 0 {
		h.Chunks = append(h.Chunks, [32]byte(chunk.Sum(nil)))
	}
	h.SHA256 = hex.EncodeToString(whole.Sum(nil))
	return h, nil
}

// chunkSum returns the precomputed hash of the chunk at offset, if any.
func (h Hash) chunkSum(chunkSize, offset int64) ([32]byte, bool) {
	if chunkSize != h.ChunkSize || chunkSize == 0 || offset%chunkSize != 0 {
		return [32]byte{}, false
	}
	i := offset / chunkSize
	if i >= int64(len(h.Chunks)) {
		return [32]byte{}, false
	}
	return h.Chunks[i], true
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// Uploader pushes files through a Client and verifies the receipts.
type Uploader struct {
	Client *Client
	// Key is the pinned receipt-verification key. Required.
	Key ed25519.PublicKey
	// Limiter paces the bytes sent (nil: unlimited).
	Limiter *RateLimiter
	// Backoff paces retries of transient failures within one Upload.
	Backoff Backoff
	// MaxTransient bounds consecutive transient failures within one Upload
	// before it returns the error to the caller (0: retry until ctx ends).
	MaxTransient int
	// Poll paces the status calls that wait for a receipt after an
	// acknowledged commit (default DefaultPoll).
	Poll Backoff
}

// DefaultPoll is how a receipt is awaited after an acknowledged commit:
// the first status call after 25 ms (a small file's commit is done by
// then), doubling to four a second (a status call costs the server about a
// millisecond; a 10 GiB original on the fs backend is re-read for a
// minute, and the camera is freed as soon as its receipt is seen).
var DefaultPoll = Backoff{Initial: 25 * time.Millisecond, Max: 250 * time.Millisecond}

// recommitAfter is how long a commit may stay completing without the
// agent asking again: a server restarted since the acknowledgement has
// its commit finished by Reconcile, but asking again costs nothing.
const recommitAfter = 30 * time.Second

// Upload describes one file to push.
type Upload struct {
	Path     string
	Hash     Hash // from HashFile; zero: Upload hashes the file first
	Metadata wire.Metadata
	// Progress, if set, receives the number of bytes known to be on the
	// server (durable offset, and bytes of the chunk in flight).
	Progress func(done, total int64)
	// Durable, if set, is told each new session id and durable offset so a
	// journal can record them.
	Durable func(sessionID string, offset int64)
}

// Result is a verified upload.
type Result struct {
	File       string          `json:"file"`
	SHA256     string          `json:"sha256"`
	Size       int64           `json:"size"`
	EvidenceID string          `json:"evidence_id"`
	Receipt    receipt.Receipt `json:"receipt"`
	Duplicate  bool            `json:"duplicate,omitempty"`
}

// errFileChanged is a file that differs from its hash while uploading.
var errFileChanged = errors.New("file changed since it was hashed")

// Upload pushes one file: create (or resume) the session, send the chunks
// from the server's durable offset, commit, verify the receipt against the
// pinned key and the file's hash. Transient failures are retried (see
// MaxTransient); the returned error is classified by Classify.
func (u *Uploader) Upload(ctx context.Context, up Upload) (Result, error) {
	if len(u.Key) != ed25519.PublicKeySize {
		return Result{}, &UploadError{Kind: Permanent, Op: "upload", Err: errors.New("no pinned receipt key")}
	}
	if up.Hash.SHA256 == "" {
		h, err := HashFile(ctx, up.Path, nil)
		if err != nil {
			return Result{}, &UploadError{Kind: Transient, Op: "hash", Err: err}
		}
		up.Hash = h
	}
	f, err := os.Open(up.Path)
	if err != nil {
		return Result{}, &UploadError{Kind: Transient, Op: "open", Err: err}
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil {
		return Result{}, &UploadError{Kind: Transient, Op: "stat", Err: err}
	} else if st.Size() != up.Hash.Size {
		return Result{}, &UploadError{Kind: Permanent, Op: "stat", Err: fmt.Errorf("%w: %d bytes, hashed %d", errFileChanged, st.Size(), up.Hash.Size)}
	}
	req := wire.CreateRequest{SHA256: up.Hash.SHA256, Size: up.Hash.Size, Filename: filepath.Base(up.Path),
		ContentType: contentType(up.Path), Metadata: up.Metadata}
	if err := req.Validate(); err != nil {
		return Result{}, &UploadError{Kind: Permanent, Op: "metadata", Err: err}
	}
	rt := &retrier{ctx: ctx, backoff: u.Backoff, max: u.MaxTransient}
	retry := rt.wait
	for {
		if err := ctx.Err(); err != nil {
			return Result{}, &UploadError{Kind: Transient, Op: "upload", Err: err}
		}
		sess, err := u.Client.CreateSession(ctx, req)
		if err != nil {
			if rerr := retry("create session", err); rerr != nil {
				return Result{}, rerr
			}
			continue
		}
		if sess.Duplicate || sess.Receipt != nil {
			if sess.Receipt == nil {
				return Result{}, &UploadError{Kind: Transient, Op: "create session", Err: errors.New("server answered duplicate without a receipt")}
			}
			return u.verified(up, *sess.Receipt, true)
		}
		if up.Durable != nil {
			up.Durable(sess.SessionID, sess.Offset)
		}
		res, err := u.send(ctx, f, up, sess.Session, rt)
		if err == nil {
			return res, nil
		}
		if errors.Is(err, errNewSession) {
			// Paced like any transient failure, so a server that keeps
			// losing sessions is not hammered.
			if rerr := rt.wait("new session", err); rerr != nil {
				return Result{}, rerr
			}
			continue
		}
		return Result{}, err
	}
}

// errNewSession makes Upload start over with a new session (the old one
// expired or was aborted); the bytes already on the server are lost only
// in that case.
var errNewSession = errors.New("session gone")

func (u *Uploader) send(ctx context.Context, f *os.File, up Upload, sess wire.Session, rt *retrier) (Result, error) {
	retry := rt.wait
	size, offset := up.Hash.Size, sess.Offset
	chunk := sess.ChunkSize
	if chunk <= 0 {
		return Result{}, &UploadError{Kind: Transient, Op: "create session", Err: fmt.Errorf("server chunk size %d", chunk)}
	}
	resync := func(op string, err error) (bool, error) {
		var we *wire.Error
		if errors.As(err, &we) {
			switch we.Code {
			case wire.CodeOffsetMismatch, wire.CodeIncomplete:
				// Re-sync at once, unless the server sends us back where we
				// already were (then pace it like a failure).
				if we.Offset != nil && *we.Offset != offset {
					offset = *we.Offset
					return true, nil
				}
			case wire.CodeExpired, wire.CodeNotFound:
				return false, errNewSession
			}
		}
		if rerr := retry(op, err); rerr != nil {
			return false, rerr
		}
		// After a transient failure, ask where the server is.
		for {
			s, gerr := u.Client.GetSession(ctx, sess.SessionID)
			if gerr == nil {
				offset = s.Offset
				return true, nil
			}
			var ge *wire.Error
			if errors.As(gerr, &ge) && (ge.Code == wire.CodeNotFound || ge.Code == wire.CodeExpired) {
				return false, errNewSession
			}
			if rerr := retry("get session", gerr); rerr != nil {
				return false, rerr
			}
		}
	}
	for {
		for offset < size {
			n := wire.ExpectedChunkLength(size, chunk, offset)
			sum, ok := up.Hash.chunkSum(chunk, offset)
			if !ok {
				var err error
				if sum, err = hashSection(ctx, f, offset, n); err != nil {
					return Result{}, &UploadError{Kind: Transient, Op: "read", Err: err}
				}
			}
			base := offset
			var sent int64
			body := &limitedReader{ctx: ctx, r: io.NewSectionReader(f, offset, n), l: u.Limiter, progress: func(k int64) {
				sent += k
				if up.Progress != nil {
					up.Progress(base+sent, size)
				}
			}}
			next, err := u.Client.PutChunk(ctx, sess.SessionID, offset, body, n, sum)
			if err != nil {
				if up.Progress != nil {
					up.Progress(base, size)
				}
				var we *wire.Error
				if errors.As(err, &we) && we.Code == wire.CodeChunkDigestMismatch {
					// Our bytes changed between hashing the chunk and sending
					// it, or were corrupted in transit: check the file.
					if h, herr := hashSection(ctx, f, offset, n); herr == nil && h != sum {
						return Result{}, &UploadError{Kind: Permanent, Op: "put chunk", Err: fmt.Errorf("%w: chunk at %d", errFileChanged, offset)}
					}
				}
				if _, rerr := resync("put chunk", err); rerr != nil {
					return Result{}, rerr
				}
				continue
			}
			offset = next
			rt.failures = 0 // progress: the next outage starts a fresh backoff
			if up.Durable != nil {
				up.Durable(sess.SessionID, offset)
			}
			if up.Progress != nil {
				up.Progress(offset, size)
			}
		}
		ans, err := u.Client.CommitAsync(ctx, sess.SessionID)
		if err != nil {
			if _, rerr := resync("commit", err); rerr != nil {
				return Result{}, rerr
			}
			continue
		}
		if ans.Done {
			return u.verified(up, ans.Commit.Receipt, ans.Commit.Duplicate)
		}
		st, err := u.awaitReceipt(ctx, sess.SessionID, rt)
		if err != nil {
			return Result{}, err
		}
		if st.Receipt != nil {
			return u.verified(up, *st.Receipt, st.Duplicate)
		}
		offset = st.Offset // the stored parts disagreed: resend from here
	}
}

// awaitReceipt polls an acknowledged commit's session until it has its
// receipt (committed), or is open again (returned, to continue at its
// offset), or failed (the verification's error, permanent).
func (u *Uploader) awaitReceipt(ctx context.Context, id string, rt *retrier) (wire.Session, error) {
	poll := u.Poll
	if poll.Initial <= 0 {
		poll = DefaultPoll
	}
	asked := time.Now()
	for n := 0; ; n++ {
		t := time.NewTimer(poll.Delay(n))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return wire.Session{}, &UploadError{Kind: Transient, Op: "await receipt", Err: ctx.Err()}
		}
		st, err := u.Client.GetSession(ctx, id)
		if err != nil {
			var we *wire.Error
			if errors.As(err, &we) && (we.Code == wire.CodeNotFound || we.Code == wire.CodeExpired) {
				return wire.Session{}, errNewSession
			}
			if rerr := rt.wait("await receipt", err); rerr != nil {
				return wire.Session{}, rerr
			}
			continue
		}
		switch st.State {
		case wire.StateCommitted:
			if st.Receipt == nil {
				return wire.Session{}, &UploadError{Kind: Transient, Op: "await receipt", Err: errors.New("server answered committed without a receipt")}
			}
			return st, nil
		case wire.StateOpen:
			return st, nil
		case wire.StateFailed:
			var cause error = errors.New("commit failed")
			if st.Error != nil {
				cause = st.Error
			}
			kind := Classify(cause)
			if kind == Transient {
				kind = Permanent // a failed session takes nothing more
			}
			return wire.Session{}, &UploadError{Kind: kind, Op: "commit", Err: cause}
		case wire.StateAborted:
			return wire.Session{}, errNewSession
		}
		if time.Since(asked) > recommitAfter {
			// Still completing: ask again (a no-op while it runs).
			ans, err := u.Client.CommitAsync(ctx, id)
			if err == nil && ans.Done {
				return wire.Session{Receipt: &ans.Commit.Receipt, Duplicate: ans.Commit.Duplicate, State: wire.StateCommitted}, nil
			}
			asked = time.Now()
		}
	}
}

func (u *Uploader) verified(up Upload, rc receipt.Receipt, dup bool) (Result, error) {
	if err := receipt.VerifyFor(u.Key, rc, up.Hash.SHA256, up.Hash.Size); err != nil {
		return Result{}, &UploadError{Kind: Permanent, Op: "verify receipt", Err: err}
	}
	return Result{File: up.Path, SHA256: up.Hash.SHA256, Size: up.Hash.Size, EvidenceID: rc.EvidenceID, Receipt: rc, Duplicate: dup}, nil
}

func hashSection(ctx context.Context, f *os.File, off, n int64) ([32]byte, error) {
	var sum [32]byte
	h := sha256.New()
	if _, err := io.CopyBuffer(h, ctxReader{ctx, io.NewSectionReader(f, off, n)}, make([]byte, 256<<10)); err != nil {
		return sum, err
	}
	h.Sum(sum[:0])
	return sum, nil
}

func contentType(path string) string {
	switch filepath.Ext(path) {
	case ".mp4", ".MP4", ".m4v":
		return "video/mp4"
	case ".mov", ".MOV":
		return "video/quicktime"
	case ".mkv":
		return "video/x-matroska"
	case ".avi", ".AVI":
		return "video/x-msvideo"
	}
	return "application/octet-stream"
}

// retrier paces retries of transient failures within one Upload.
type retrier struct {
	ctx      context.Context
	backoff  Backoff
	max      int
	failures int
}

// wait returns nil after a backoff delay if err is transient and the
// retry budget is not spent, else the classified error.
func (r *retrier) wait(op string, err error) error {
	if k := Classify(err); k != Transient {
		return &UploadError{Kind: k, Op: op, Err: err}
	}
	r.failures++
	if r.max > 0 && r.failures >= r.max {
		return &UploadError{Kind: Transient, Op: op, Err: err}
	}
	t := time.NewTimer(r.backoff.Delay(r.failures - 1))
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-r.ctx.Done():
		return &UploadError{Kind: Transient, Op: op, Err: errors.Join(err, r.ctx.Err())}
	}
}

func statSize(path string) (int64, error) {
	st, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}
