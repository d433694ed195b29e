package fs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/opendems/opendems/storage"
)

const backendName = "fs"

// Store is a storage.Backend on a local directory. Create it with New.
type Store struct {
	root string
	// locks serialise read-modify-write of one object's sidecar; striped
	// so memory stays constant.
	locks [64]sync.Mutex
	// uploadLocks serialise the operations on one upload. They are a
	// separate set because Complete holds its upload's lock while promote
	// takes the object's: sharing one set, an upload id and an object name
	// that hash to the same stripe would deadlock.
	uploadLocks [64]sync.Mutex
	// now is the clock used for retention decisions (time.Now).
	now func() time.Time
}

var _ storage.Backend = (*Store)(nil)

// Options configure a Store; the zero value is usable.
type Options struct {
	// Now replaces the clock for retention decisions (tests). Nil means
	// time.Now.
	Now func() time.Time
}

// New returns a Store rooted at root, creating the directory layout. The
// root must be on one filesystem (temporary files are linked into place).
func New(root string, opts *Options) (*Store, error) {
	if root == "" {
		return nil, &storage.Error{Op: "open", Backend: backendName, Err: fmt.Errorf("empty root directory: %w", storage.ErrInvalid)}
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, &storage.Error{Op: "open", Backend: backendName, Err: err}
	}
	s := &Store{root: abs, now: time.Now}
	if opts != nil && opts.Now != nil {
		s.now = opts.Now
	}
	for _, d := range []string{"tmp", "uploads", string(storage.Originals), string(storage.Derivatives), string(storage.Checkpoints)} {
		if err := os.MkdirAll(filepath.Join(abs, d), 0o750); err != nil {
			return nil, &storage.Error{Op: "open", Backend: backendName, Err: err}
		}
	}
	return s, nil
}

// Name returns "fs".
func (s *Store) Name() string { return backendName }

// Root returns the root directory.
func (s *Store) Root() string { return s.root }

// Check verifies that the root exists and is writable with fsync, so a
// read-only or full disk is reported at start and not at the first upload.
func (s *Store) Check(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return s.err("check", storage.Ref{}, err)
	}
	f, err := os.CreateTemp(filepath.Join(s.root, "tmp"), "check-*")
	if err != nil {
		return s.err("check", storage.Ref{}, fmt.Errorf("root %s is not writable: %w", s.root, err))
	}
	name := f.Name()
	defer os.Remove(name)
	if _, err := f.Write([]byte("opendems")); err != nil {
		f.Close()
		return s.err("check", storage.Ref{}, fmt.Errorf("write to %s: %w", s.root, err))
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return s.err("check", storage.Ref{}, fmt.Errorf("fsync in %s: %w", s.root, err))
	}
	if err := f.Close(); err != nil {
		return s.err("check", storage.Ref{}, err)
	}
	return nil
}

func (s *Store) err(op string, ref storage.Ref, err error) error {
	return &storage.Error{Op: op, Backend: backendName, Ref: ref, Err: err}
}

func (s *Store) lock(key string) func() { return stripe(&s.locks, key) }

// lockUpload serialises operations on one upload.
func (s *Store) lockUpload(id storage.UploadID) func() { return stripe(&s.uploadLocks, string(id)) }

func stripe(locks *[64]sync.Mutex, key string) func() {
	h := fnv.New32a()
	h.Write([]byte(key))
	m := &locks[h.Sum32()%uint32(len(locks))]
	m.Lock()
	return m.Unlock
}

// dataPath is the object's file; the sidecar is dataPath + ".json".
func (s *Store) dataPath(ref storage.Ref) string {
	h := ref.Digest.String()
	return filepath.Join(s.root, string(ref.Namespace), h[0:2], h[2:4], h)
}

// sidecar is the durable metadata of one object.
type sidecar struct {
	Size        int64     `json:"size"`
	Created     time.Time `json:"created"`
	RetainUntil time.Time `json:"retain_until,omitzero"`
	LegalHold   bool      `json:"legal_hold"`
	ContentType string    `json:"content_type,omitempty"`
}

func (m sidecar) object(ref storage.Ref) storage.Object {
	return storage.Object{Ref: ref, Size: m.Size, Created: m.Created, RetainUntil: m.RetainUntil, LegalHold: m.LegalHold}
}

func (s *Store) readSidecar(ref storage.Ref) (sidecar, error) {
	var m sidecar
	b, err := os.ReadFile(s.dataPath(ref) + ".json")
	if err != nil {
		return m, err
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("corrupt metadata %s.json: %w", s.dataPath(ref), err)
	}
	return m, nil
}

// writeFileAtomic writes b to path through a temporary file in the same
// directory, fsyncs it, renames it over path and fsyncs the directory, so a
// reader sees the old or the new content, never a torn one.
func writeFileAtomic(path string, b []byte, mode os.FileMode) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return err
	}
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err := f.Write(b); err != nil {
		return err
	}
	if err := f.Chmod(mode); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return err
	}
	ok = true
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// ctxReader stops a copy when ctx is cancelled.
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

// Put implements storage.Store. The bytes are always read and verified,
// even when the object already exists, so a success never vouches for
// bytes that were not checked.
func (s *Store) Put(ctx context.Context, ref storage.Ref, size int64, r io.Reader, opts storage.PutOptions) (storage.Object, error) {
	if err := ref.Validate(); err != nil {
		return storage.Object{}, s.err("put", ref, err)
	}
	if size < 0 {
		return storage.Object{}, s.err("put", ref, fmt.Errorf("negative size %d: %w", size, storage.ErrInvalid))
	}
	f, err := os.CreateTemp(filepath.Join(s.root, "tmp"), "put-*")
	if err != nil {
		return storage.Object{}, s.err("put", ref, err)
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	// Reading one byte past size detects a too-long stream without
	// consuming an unbounded amount of it.
	v := storage.NewHashingReader(io.LimitReader(ctxReader{ctx, r}, size+1), ref.Digest, size)
	if _, err := io.Copy(f, v); err != nil {
		return storage.Object{}, s.err("put", ref, err)
	}
	if !v.Verified() {
		return storage.Object{}, s.err("put", ref, fmt.Errorf("stream ended unverified: %w", storage.ErrSizeMismatch))
	}
	if err := f.Sync(); err != nil {
		return storage.Object{}, s.err("put", ref, err)
	}
	if err := f.Close(); err != nil {
		return storage.Object{}, s.err("put", ref, err)
	}
	obj, err := s.promote(ref, tmp, size, opts)
	if err != nil {
		return storage.Object{}, s.err("put", ref, err)
	}
	ok = true
	return obj, nil
}

// promote makes the verified file tmp the object ref, or returns the
// existing object if ref is already stored. tmp is removed either way.
func (s *Store) promote(ref storage.Ref, tmp string, size int64, opts storage.PutOptions) (storage.Object, error) {
	defer os.Remove(tmp)
	unlock := s.lock(ref.String())
	defer unlock()
	final := s.dataPath(ref)
	if _, err := os.Stat(final); err == nil {
		m, err := s.readSidecar(ref)
		if err != nil {
			return storage.Object{}, err
		}
		return m.object(ref), nil
	}
	if err := os.MkdirAll(filepath.Dir(final), 0o750); err != nil {
		return storage.Object{}, err
	}
	m := sidecar{
		Size:        size,
		Created:     s.now().UTC().Truncate(time.Microsecond),
		RetainUntil: opts.RetainUntil.UTC(),
		LegalHold:   opts.LegalHold,
		ContentType: opts.ContentType,
	}
	if opts.RetainUntil.IsZero() {
		m.RetainUntil = time.Time{}
	}
	b, err := json.Marshal(m)
	if err != nil {
		return storage.Object{}, err
	}
	// Sidecar first: visible data must never lack its retention.
	if err := writeFileAtomic(final+".json", b, 0o640); err != nil {
		return storage.Object{}, err
	}
	if err := os.Chmod(tmp, 0o444); err != nil {
		return storage.Object{}, err
	}
	if err := os.Link(tmp, final); err != nil {
		if errors.Is(err, fs.ErrExist) {
			m, err := s.readSidecar(ref)
			if err != nil {
				return storage.Object{}, err
			}
			return m.object(ref), nil
		}
		return storage.Object{}, err
	}
	if err := syncDir(filepath.Dir(final)); err != nil {
		return storage.Object{}, err
	}
	return m.object(ref), nil
}

// Open implements storage.Store.
func (s *Store) Open(ctx context.Context, ref storage.Ref, offset, length int64) (io.ReadCloser, error) {
	if err := ref.Validate(); err != nil {
		return nil, s.err("open", ref, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, s.err("open", ref, err)
	}
	f, err := os.Open(s.dataPath(ref))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, s.err("open", ref, storage.ErrNotFound)
		}
		return nil, s.err("open", ref, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, s.err("open", ref, err)
	}
	n, err := storage.ClampRange(fi.Size(), offset, length)
	if err != nil {
		f.Close()
		return nil, s.err("open", ref, err)
	}
	return &rangeReader{Reader: io.NewSectionReader(f, offset, n), f: f}, nil
}

type rangeReader struct {
	io.Reader
	f *os.File
}

func (r *rangeReader) Close() error { return r.f.Close() }

// Stat implements storage.Store.
func (s *Store) Stat(ctx context.Context, ref storage.Ref) (storage.Object, error) {
	if err := ref.Validate(); err != nil {
		return storage.Object{}, s.err("stat", ref, err)
	}
	if err := ctx.Err(); err != nil {
		return storage.Object{}, s.err("stat", ref, err)
	}
	obj, err := s.stat(ref)
	if err != nil {
		return storage.Object{}, s.err("stat", ref, err)
	}
	return obj, nil
}

func (s *Store) stat(ref storage.Ref) (storage.Object, error) {
	fi, err := os.Stat(s.dataPath(ref))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return storage.Object{}, storage.ErrNotFound
		}
		return storage.Object{}, err
	}
	m, err := s.readSidecar(ref)
	if err != nil {
		return storage.Object{}, err
	}
	obj := m.object(ref)
	obj.Size = fi.Size()
	return obj, nil
}

// List implements storage.Store.
func (s *Store) List(ctx context.Context, ns storage.Namespace, fn func(storage.Object) error) error {
	if !ns.Valid() {
		return s.err("list", storage.Ref{Namespace: ns}, fmt.Errorf("unknown namespace %q: %w", ns, storage.ErrInvalid))
	}
	dir := filepath.Join(s.root, string(ns))
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		dg, perr := storage.ParseDigest(d.Name())
		if perr != nil {
			return nil // sidecars and temporary files
		}
		obj, err := s.stat(storage.Ref{Namespace: ns, Digest: dg})
		if errors.Is(err, storage.ErrNotFound) {
			return nil // deleted meanwhile
		}
		if err != nil {
			return err
		}
		return fn(obj)
	})
	if err != nil {
		return s.err("list", storage.Ref{Namespace: ns}, err)
	}
	return nil
}

func (s *Store) retained(m sidecar) error {
	if m.LegalHold {
		return fmt.Errorf("legal hold is set: %w", storage.ErrRetained)
	}
	if !m.RetainUntil.IsZero() && s.now().Before(m.RetainUntil) {
		return fmt.Errorf("retained until %s: %w", m.RetainUntil.Format(time.RFC3339), storage.ErrRetained)
	}
	return nil
}

// Delete implements storage.Store.
func (s *Store) Delete(ctx context.Context, ref storage.Ref) error {
	if err := ref.Validate(); err != nil {
		return s.err("delete", ref, err)
	}
	if err := ctx.Err(); err != nil {
		return s.err("delete", ref, err)
	}
	unlock := s.lock(ref.String())
	defer unlock()
	final := s.dataPath(ref)
	if _, err := os.Stat(final); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return s.err("delete", ref, storage.ErrNotFound)
		}
		return s.err("delete", ref, err)
	}
	// A missing or unreadable sidecar refuses the delete: without it we
	// cannot prove the retention has ended.
	m, err := s.readSidecar(ref)
	if err != nil {
		return s.err("delete", ref, fmt.Errorf("cannot read retention: %v: %w", err, storage.ErrRetained))
	}
	if err := s.retained(m); err != nil {
		return s.err("delete", ref, err)
	}
	if err := os.Remove(final); err != nil {
		return s.err("delete", ref, err)
	}
	if err := syncDir(filepath.Dir(final)); err != nil {
		return s.err("delete", ref, err)
	}
	if err := os.Remove(final + ".json"); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return s.err("delete", ref, err)
	}
	return nil
}

// updateSidecar applies change to an existing object's sidecar under its
// lock and writes it atomically.
func (s *Store) updateSidecar(ctx context.Context, op string, ref storage.Ref, change func(*sidecar) error) error {
	if err := ref.Validate(); err != nil {
		return s.err(op, ref, err)
	}
	if err := ctx.Err(); err != nil {
		return s.err(op, ref, err)
	}
	unlock := s.lock(ref.String())
	defer unlock()
	if _, err := os.Stat(s.dataPath(ref)); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return s.err(op, ref, storage.ErrNotFound)
		}
		return s.err(op, ref, err)
	}
	m, err := s.readSidecar(ref)
	if err != nil {
		return s.err(op, ref, err)
	}
	if err := change(&m); err != nil {
		return s.err(op, ref, err)
	}
	b, err := json.Marshal(m)
	if err != nil {
		return s.err(op, ref, err)
	}
	if err := writeFileAtomic(s.dataPath(ref)+".json", b, 0o640); err != nil {
		return s.err(op, ref, err)
	}
	return nil
}

// ExtendRetention implements storage.Store.
func (s *Store) ExtendRetention(ctx context.Context, ref storage.Ref, until time.Time) error {
	if until.IsZero() {
		return s.err("extend-retention", ref, fmt.Errorf("zero retain-until: %w", storage.ErrInvalid))
	}
	return s.updateSidecar(ctx, "extend-retention", ref, func(m *sidecar) error {
		if until.Before(m.RetainUntil) {
			return fmt.Errorf("retained until %s, refused %s: %w", m.RetainUntil.Format(time.RFC3339), until.Format(time.RFC3339), storage.ErrRetentionShortened)
		}
		m.RetainUntil = until.UTC()
		return nil
	})
}

// SetLegalHold implements storage.Store.
func (s *Store) SetLegalHold(ctx context.Context, ref storage.Ref, on bool) error {
	return s.updateSidecar(ctx, "legal-hold", ref, func(m *sidecar) error {
		m.LegalHold = on
		return nil
	})
}

// isHex reports whether id is a lower-case hex string of n characters; it
// keeps upload IDs from naming paths outside uploads/.
func isHex(id string, n int) bool {
	if len(id) != n {
		return false
	}
	return strings.Trim(id, "0123456789abcdef") == ""
}

func newUploadID() (storage.UploadID, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return storage.UploadID(hex.EncodeToString(b[:])), nil
}

// RemoveStaleTemp deletes temporary files and half-created uploads under
// tmp/ last modified before olderThan, and returns how many it removed.
// They are left by a process killed during Put or CreateUpload; they are
// never visible as objects, only wasted space. Call it from the periodic
// cleanup with a cutoff well beyond the longest Put.
func (s *Store) RemoveStaleTemp(ctx context.Context, olderThan time.Time) (int, error) {
	dir := filepath.Join(s.root, "tmp")
	ents, err := os.ReadDir(dir)
	if err != nil {
		return 0, s.err("remove-stale-temp", storage.Ref{}, err)
	}
	n := 0
	for _, e := range ents {
		if err := ctx.Err(); err != nil {
			return n, s.err("remove-stale-temp", storage.Ref{}, err)
		}
		fi, err := e.Info()
		if err != nil || !fi.ModTime().Before(olderThan) {
			continue
		}
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return n, s.err("remove-stale-temp", storage.Ref{}, err)
		}
		n++
	}
	return n, nil
}
