package storagetest

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/opendems/opendems/storage"
)

// Reopen returns a new backend instance over the same state as b, as a
// restarted process would build it.
type Reopen func(t *testing.T, b storage.Backend) storage.Backend

// Option configures Run.
type Option func(*config)

type config struct {
	reopen Reopen
}

// WithReopen supplies how to build a second instance over the same state.
// The restart subtest fails without it: resuming after a restart is part
// of the contract, not an optional extra.
func WithReopen(r Reopen) Option { return func(c *config) { c.reopen = r } }

// Run runs the conformance suite. newBackend must return a fresh, empty
// backend for each call (each subtest gets its own).
func Run(t *testing.T, newBackend func(t *testing.T) storage.Backend, opts ...Option) {
	var c config
	for _, o := range opts {
		o(&c)
	}
	s := &suite{newBackend: newBackend, cfg: c}
	tests := []struct {
		name string
		fn   func(t *testing.T)
	}{
		{"Check", s.testCheck},
		{"PutGetStatList", s.testPutGetStatList},
		{"RangeReads", s.testRangeReads},
		{"EmptyObject", s.testEmptyObject},
		{"InvalidArguments", s.testInvalidArguments},
		{"NotFound", s.testNotFound},
		{"WrongDigestLeavesNothing", s.testWrongDigest},
		{"WrongSizeLeavesNothing", s.testWrongSize},
		{"SameDigestPutIsIdempotent", s.testIdempotentPut},
		{"DeleteWithoutRetention", s.testDeleteUnretained},
		{"RetentionBlocksDelete", s.testRetentionBlocksDelete},
		{"RetentionEnds", s.testRetentionEnds},
		{"LegalHoldBlocksDelete", s.testLegalHold},
		{"RetentionOnlyExtends", s.testRetentionOnlyExtends},
		{"Upload", s.testUpload},
		{"UploadResumeAfterRestart", s.testUploadRestart},
		{"UploadReplacePart", s.testUploadReplacePart},
		{"UploadDeclaredPartSum", s.testUploadPartSum},
		{"UploadCompleteWrongDigestAborts", s.testUploadWrongDigest},
		{"UploadCompleteWrongSizeAborts", s.testUploadWrongSize},
		{"UploadForgedHashStateRefused", s.testUploadForgedState},
		{"UploadPartBeyondSize", s.testUploadPartBeyondSize},
		{"UploadAbort", s.testUploadAbort},
		{"ListUploads", s.testListUploads},
		{"UploadOfExistingObject", s.testUploadExisting},
		{"ConcurrentPuts", s.testConcurrentPuts},
		{"StreamCommitNamesByDigest", s.testStream},
		{"StreamAbortLeavesNothing", s.testStreamAbort},
	}
	for _, tc := range tests {
		t.Run(tc.name, tc.fn)
	}
}

type suite struct {
	newBackend func(t *testing.T) storage.Backend
	cfg        config
}

// Content returns n deterministic pseudo-random bytes for seed, and the
// ref naming them in ns.
func Content(ns storage.Namespace, seed uint64, n int) ([]byte, storage.Ref) {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), byte(seed >> 16), byte(seed >> 24), 0x0d, 0xe5})
	r.Read(b)
	return b, storage.Ref{Namespace: ns, Digest: sha256.Sum256(b)}
}

func put(t *testing.T, b storage.Backend, ref storage.Ref, data []byte, opts storage.PutOptions) storage.Object {
	t.Helper()
	obj, err := b.Put(t.Context(), ref, int64(len(data)), bytes.NewReader(data), opts)
	if err != nil {
		t.Fatalf("Put(%s): %v", ref, err)
	}
	return obj
}

func readAll(t *testing.T, b storage.Backend, ref storage.Ref, off, n int64) []byte {
	t.Helper()
	rc, err := b.Open(t.Context(), ref, off, n)
	if err != nil {
		t.Fatalf("Open(%s, %d, %d): %v", ref, off, n, err)
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read %s: %v", ref, err)
	}
	return got
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: error %v, want %v", what, err, want)
	}
	var se *storage.Error
	if !errors.As(err, &se) {
		t.Fatalf("%s: error %v is not a *storage.Error", what, err)
	}
}

// assertAbsent checks that ref is not visible in any way and that no
// unfinished upload for it remains.
func assertAbsent(t *testing.T, b storage.Backend, ref storage.Ref) {
	t.Helper()
	ctx := t.Context()
	_, err := b.Stat(ctx, ref)
	wantErr(t, "Stat of absent object", err, storage.ErrNotFound)
	if _, err := b.Open(ctx, ref, 0, -1); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Open of absent object: %v, want ErrNotFound", err)
	}
	err = b.List(ctx, ref.Namespace, func(o storage.Object) error {
		if o.Ref == ref {
			return fmt.Errorf("List shows %s", ref)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	err = b.ListUploads(ctx, time.Now().Add(24*time.Hour), func(id storage.UploadID, r storage.Ref, _ time.Time) error {
		if r == ref {
			return fmt.Errorf("upload %s for %s left behind", id, ref)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func listed(t *testing.T, b storage.Backend, ns storage.Namespace) map[storage.Ref]storage.Object {
	t.Helper()
	m := map[storage.Ref]storage.Object{}
	if err := b.List(t.Context(), ns, func(o storage.Object) error {
		if _, dup := m[o.Ref]; dup {
			return fmt.Errorf("List returned %s twice", o.Ref)
		}
		m[o.Ref] = o
		return nil
	}); err != nil {
		t.Fatalf("List(%s): %v", ns, err)
	}
	return m
}

func (s *suite) testCheck(t *testing.T) {
	b := s.newBackend(t)
	if err := b.Check(t.Context()); err != nil {
		t.Fatalf("Check: %v", err)
	}
	if b.Name() == "" {
		t.Fatal("Name is empty")
	}
}

func (s *suite) testPutGetStatList(t *testing.T) {
	b := s.newBackend(t)
	ctx := t.Context()
	data, ref := Content(storage.Derivatives, 1, 100_000)
	before := time.Now().Add(-time.Minute)
	obj := put(t, b, ref, data, storage.PutOptions{ContentType: "video/mp4"})
	if obj.Ref != ref || obj.Size != int64(len(data)) {
		t.Fatalf("Put returned %+v", obj)
	}
	st, err := b.Stat(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	if st.Ref != ref || st.Size != int64(len(data)) || st.LegalHold || !st.RetainUntil.IsZero() {
		t.Fatalf("Stat = %+v", st)
	}
	if st.Created.Before(before) || st.Created.After(time.Now().Add(time.Minute)) {
		t.Fatalf("Stat.Created = %v, not about now", st.Created)
	}
	if got := readAll(t, b, ref, 0, -1); !bytes.Equal(got, data) {
		t.Fatalf("read back %d bytes differing from the %d put", len(got), len(data))
	}
	data2, ref2 := Content(storage.Derivatives, 2, 10)
	put(t, b, ref2, data2, storage.PutOptions{})
	got := listed(t, b, storage.Derivatives)
	if len(got) != 2 || got[ref].Size != int64(len(data)) || got[ref2].Size != 10 {
		t.Fatalf("List(derivatives) = %v", got)
	}
	if o := listed(t, b, storage.Originals); len(o) != 0 {
		t.Fatalf("List(originals) = %v, want empty", o)
	}
	// The same digest in another namespace is another object.
	if _, err := b.Stat(ctx, storage.Ref{Namespace: storage.Originals, Digest: ref.Digest}); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Stat in other namespace: %v, want ErrNotFound", err)
	}
	// List stops at fn's error and returns it.
	stop := errors.New("stop")
	n := 0
	if err := b.List(ctx, storage.Derivatives, func(storage.Object) error { n++; return stop }); !errors.Is(err, stop) || n != 1 {
		t.Fatalf("List with failing fn: err %v after %d calls", err, n)
	}
}

func (s *suite) testRangeReads(t *testing.T) {
	b := s.newBackend(t)
	data, ref := Content(storage.Derivatives, 3, 4096)
	put(t, b, ref, data, storage.PutOptions{})
	for _, tc := range []struct {
		off, n int64
		want   []byte
	}{
		{0, -1, data},
		{0, 1, data[:1]},
		{100, 200, data[100:300]},
		{4000, 96, data[4000:]},
		{4000, 1000, data[4000:]}, // past the end: clamped
		{4095, -1, data[4095:]},
		{4096, -1, []byte{}},
		{0, 0, []byte{}},
	} {
		if got := readAll(t, b, ref, tc.off, tc.n); !bytes.Equal(got, tc.want) {
			t.Errorf("Open(%d, %d): got %d bytes, want %d", tc.off, tc.n, len(got), len(tc.want))
		}
	}
	for _, off := range []int64{-1, 4097} {
		if rc, err := b.Open(t.Context(), ref, off, 10); !errors.Is(err, storage.ErrInvalid) {
			if rc != nil {
				rc.Close()
			}
			t.Errorf("Open(offset %d): %v, want ErrInvalid", off, err)
		}
	}
}

func (s *suite) testEmptyObject(t *testing.T) {
	b := s.newBackend(t)
	data, ref := Content(storage.Derivatives, 4, 0)
	obj := put(t, b, ref, data, storage.PutOptions{})
	if obj.Size != 0 {
		t.Fatalf("size %d", obj.Size)
	}
	if got := readAll(t, b, ref, 0, -1); len(got) != 0 {
		t.Fatalf("read %d bytes of empty object", len(got))
	}
}

func (s *suite) testInvalidArguments(t *testing.T) {
	b := s.newBackend(t)
	ctx := t.Context()
	data, ref := Content(storage.Derivatives, 5, 10)
	for _, tc := range []struct {
		name string
		ref  storage.Ref
		size int64
	}{
		{"unknown namespace", storage.Ref{Namespace: "tmp", Digest: ref.Digest}, 10},
		{"empty namespace", storage.Ref{Digest: ref.Digest}, 10},
		{"zero digest", storage.Ref{Namespace: storage.Derivatives}, 10},
		{"negative size", ref, -1},
	} {
		_, err := b.Put(ctx, tc.ref, tc.size, bytes.NewReader(data), storage.PutOptions{})
		wantErr(t, "Put with "+tc.name, err, storage.ErrInvalid)
		_, err = b.CreateUpload(ctx, tc.ref, tc.size, storage.PutOptions{})
		wantErr(t, "CreateUpload with "+tc.name, err, storage.ErrInvalid)
	}
	err := b.List(ctx, "nope", func(storage.Object) error { return nil })
	wantErr(t, "List of unknown namespace", err, storage.ErrInvalid)
}

func (s *suite) testNotFound(t *testing.T) {
	b := s.newBackend(t)
	ctx := t.Context()
	_, ref := Content(storage.Originals, 6, 10)
	_, err := b.Stat(ctx, ref)
	wantErr(t, "Stat", err, storage.ErrNotFound)
	_, err = b.Open(ctx, ref, 0, -1)
	wantErr(t, "Open", err, storage.ErrNotFound)
	wantErr(t, "Delete", b.Delete(ctx, ref), storage.ErrNotFound)
	wantErr(t, "ExtendRetention", b.ExtendRetention(ctx, ref, time.Now().Add(time.Hour)), storage.ErrNotFound)
	wantErr(t, "SetLegalHold", b.SetLegalHold(ctx, ref, true), storage.ErrNotFound)
	_, err = b.ListParts(ctx, "0123456789abcdef0123456789abcdef", ref)
	wantErr(t, "ListParts of unknown upload", err, storage.ErrUploadNotFound)
	wantErr(t, "Abort of unknown upload", b.Abort(ctx, "0123456789abcdef0123456789abcdef", ref), storage.ErrUploadNotFound)
}

func (s *suite) testWrongDigest(t *testing.T) {
	b := s.newBackend(t)
	data, _ := Content(storage.Originals, 7, 50_000)
	_, claimed := Content(storage.Originals, 8, 50_000)
	_, err := b.Put(t.Context(), claimed, int64(len(data)), bytes.NewReader(data), storage.PutOptions{RetainUntil: time.Now().Add(time.Hour), LegalHold: true})
	wantErr(t, "Put with wrong digest", err, storage.ErrDigestMismatch)
	assertAbsent(t, b, claimed)
	if o := listed(t, b, storage.Originals); len(o) != 0 {
		t.Fatalf("List after failed put: %v", o)
	}
}

// errAfter fails like a connection that drops after n bytes.
type errAfter struct {
	r   io.Reader
	n   int
	err error
}

func (e *errAfter) Read(p []byte) (int, error) {
	if e.n <= 0 {
		return 0, e.err
	}
	if len(p) > e.n {
		p = p[:e.n]
	}
	n, err := e.r.Read(p)
	e.n -= n
	return n, err
}

func (s *suite) testWrongSize(t *testing.T) {
	b := s.newBackend(t)
	ctx := t.Context()
	data, ref := Content(storage.Originals, 9, 30_000)
	for _, tc := range []struct {
		name string
		size int64
		r    io.Reader
		want error
	}{
		{"stream shorter than size", int64(len(data)) + 1, bytes.NewReader(data), storage.ErrSizeMismatch},
		{"stream longer than size", int64(len(data)) - 1, bytes.NewReader(data), storage.ErrSizeMismatch},
		{"size zero, stream not", 0, bytes.NewReader(data), storage.ErrSizeMismatch},
	} {
		_, err := b.Put(ctx, ref, tc.size, tc.r, storage.PutOptions{})
		wantErr(t, "Put with "+tc.name, err, tc.want)
		assertAbsent(t, b, ref)
	}
	// The same for an object large enough to take a multipart path.
	big, bigRef := Content(storage.Originals, 19, 2*storage.MinPartSize+10)
	for _, tc := range []struct {
		name string
		size int64
		data []byte
	}{
		{"large object, stream shorter", int64(len(big)), big[:len(big)-5]},
		{"large object, stream longer", int64(len(big)) - 5, big},
	} {
		_, err := b.Put(ctx, bigRef, tc.size, bytes.NewReader(tc.data), storage.PutOptions{RetainUntil: time.Now().Add(time.Hour)})
		wantErr(t, "Put with "+tc.name, err, storage.ErrSizeMismatch)
		assertAbsent(t, b, bigRef)
	}
	// A reader that fails midway: the error comes back, nothing is left.
	boom := errors.New("connection reset")
	_, err := b.Put(ctx, ref, int64(len(data)), &errAfter{r: bytes.NewReader(data), n: 1000, err: boom}, storage.PutOptions{})
	if err == nil {
		t.Fatal("Put from failing reader succeeded")
	}
	assertAbsent(t, b, ref)
}

func (s *suite) testIdempotentPut(t *testing.T) {
	b := s.newBackend(t)
	ctx := t.Context()
	data, ref := Content(storage.Originals, 10, 20_000)
	until := time.Now().Add(2 * time.Hour).Truncate(time.Second)
	first := put(t, b, ref, data, storage.PutOptions{RetainUntil: until})
	// A second put with other options returns the existing object; it
	// neither shortens nor replaces anything.
	second := put(t, b, ref, data, storage.PutOptions{RetainUntil: time.Now().Add(time.Hour)})
	if !second.RetainUntil.Equal(first.RetainUntil) || second.Size != first.Size {
		t.Fatalf("second Put = %+v, first = %+v", second, first)
	}
	st, err := b.Stat(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	if !st.RetainUntil.Truncate(time.Second).Equal(until) {
		t.Fatalf("retention after second put %v, want %v", st.RetainUntil, until)
	}
	// Wrong bytes under an existing digest are still rejected: a success
	// must always mean "these bytes were verified".
	other, _ := Content(storage.Originals, 11, 20_000)
	_, err = b.Put(ctx, ref, int64(len(other)), bytes.NewReader(other), storage.PutOptions{})
	wantErr(t, "Put of other bytes under existing digest", err, storage.ErrDigestMismatch)
	if got := readAll(t, b, ref, 0, -1); !bytes.Equal(got, data) {
		t.Fatal("object changed after rejected put")
	}
	if n := len(listed(t, b, storage.Originals)); n != 1 {
		t.Fatalf("List shows %d objects, want 1", n)
	}
}

func (s *suite) testDeleteUnretained(t *testing.T) {
	b := s.newBackend(t)
	data, ref := Content(storage.Derivatives, 12, 1000)
	put(t, b, ref, data, storage.PutOptions{})
	if err := b.Delete(t.Context(), ref); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	assertAbsent(t, b, ref)
	wantErr(t, "second Delete", b.Delete(t.Context(), ref), storage.ErrNotFound)
	// Deleted content can be stored again.
	put(t, b, ref, data, storage.PutOptions{})
}

func (s *suite) testRetentionBlocksDelete(t *testing.T) {
	b := s.newBackend(t)
	ctx := t.Context()
	data, ref := Content(storage.Originals, 13, 1000)
	until := time.Now().Add(time.Hour).Truncate(time.Second)
	obj := put(t, b, ref, data, storage.PutOptions{RetainUntil: until})
	if !obj.RetainUntil.Truncate(time.Second).Equal(until) {
		t.Fatalf("Put returned retain-until %v, want %v", obj.RetainUntil, until)
	}
	wantErr(t, "Delete of retained object", b.Delete(ctx, ref), storage.ErrRetained)
	if got := readAll(t, b, ref, 0, -1); !bytes.Equal(got, data) {
		t.Fatal("retained object changed after refused delete")
	}
	st, err := b.Stat(ctx, ref)
	if err != nil || !st.RetainUntil.Truncate(time.Second).Equal(until) {
		t.Fatalf("Stat after refused delete = %+v, %v", st, err)
	}
}

func (s *suite) testRetentionEnds(t *testing.T) {
	b := s.newBackend(t)
	ctx := t.Context()
	data, ref := Content(storage.Originals, 14, 1000)
	until := time.Now().Add(2 * time.Second)
	put(t, b, ref, data, storage.PutOptions{RetainUntil: until})
	wantErr(t, "Delete before retain-until", b.Delete(ctx, ref), storage.ErrRetained)
	// Wait until the retention has certainly passed (server clocks may
	// round up to the next second), then the delete must succeed.
	time.Sleep(time.Until(until.Add(1500 * time.Millisecond)))
	if err := b.Delete(ctx, ref); err != nil {
		t.Fatalf("Delete after retain-until: %v", err)
	}
	assertAbsent(t, b, ref)
}

func (s *suite) testLegalHold(t *testing.T) {
	b := s.newBackend(t)
	ctx := t.Context()
	data, ref := Content(storage.Originals, 15, 1000)
	obj := put(t, b, ref, data, storage.PutOptions{LegalHold: true})
	if !obj.LegalHold {
		t.Fatalf("Put returned %+v, want legal hold", obj)
	}
	wantErr(t, "Delete under legal hold", b.Delete(ctx, ref), storage.ErrRetained)
	if err := b.SetLegalHold(ctx, ref, false); err != nil {
		t.Fatal(err)
	}
	if st, err := b.Stat(ctx, ref); err != nil || st.LegalHold {
		t.Fatalf("Stat after clearing hold = %+v, %v", st, err)
	}
	// Set it again on an existing object: deletion is blocked again.
	if err := b.SetLegalHold(ctx, ref, true); err != nil {
		t.Fatal(err)
	}
	if st, err := b.Stat(ctx, ref); err != nil || !st.LegalHold {
		t.Fatalf("Stat after setting hold = %+v, %v", st, err)
	}
	wantErr(t, "Delete under re-set legal hold", b.Delete(ctx, ref), storage.ErrRetained)
	if err := b.SetLegalHold(ctx, ref, false); err != nil {
		t.Fatal(err)
	}
	if err := b.Delete(ctx, ref); err != nil {
		t.Fatalf("Delete after hold cleared: %v", err)
	}
	assertAbsent(t, b, ref)
}

func (s *suite) testRetentionOnlyExtends(t *testing.T) {
	b := s.newBackend(t)
	ctx := t.Context()
	data, ref := Content(storage.Originals, 16, 1000)
	t0 := time.Now().Add(time.Hour).Truncate(time.Second)
	put(t, b, ref, data, storage.PutOptions{RetainUntil: t0})
	stat := func() time.Time {
		st, err := b.Stat(ctx, ref)
		if err != nil {
			t.Fatal(err)
		}
		return st.RetainUntil.Truncate(time.Second)
	}
	t1 := t0.Add(24 * time.Hour)
	if err := b.ExtendRetention(ctx, ref, t1); err != nil {
		t.Fatalf("ExtendRetention later: %v", err)
	}
	if got := stat(); !got.Equal(t1) {
		t.Fatalf("retain-until %v, want %v", got, t1)
	}
	for _, shorter := range []time.Time{t0, t1.Add(-time.Second), time.Now().Add(-time.Hour)} {
		wantErr(t, "ExtendRetention earlier", b.ExtendRetention(ctx, ref, shorter), storage.ErrRetentionShortened)
		if got := stat(); !got.Equal(t1) {
			t.Fatalf("retain-until %v after refused shortening, want %v", got, t1)
		}
	}
	// An object without retention can get one.
	data2, ref2 := Content(storage.Originals, 17, 1000)
	put(t, b, ref2, data2, storage.PutOptions{})
	if err := b.ExtendRetention(ctx, ref2, t0); err != nil {
		t.Fatalf("ExtendRetention from none: %v", err)
	}
	wantErr(t, "Delete after retention was added", b.Delete(ctx, ref2), storage.ErrRetained)
}

// uploadSize is two minimum-size parts and a short last part.
const uploadSize = 2*storage.MinPartSize + 12345

func writeParts(t *testing.T, b storage.Backend, id storage.UploadID, ref storage.Ref, data []byte, prev *storage.Part, upTo int64) []storage.Part {
	t.Helper()
	var parts []storage.Part
	off := int64(0)
	if prev != nil {
		off = prev.End()
	}
	for off < upTo {
		n := min(int64(storage.MinPartSize), upTo-off)
		p, err := b.WritePart(t.Context(), id, ref, prev, bytes.NewReader(data[off:off+n]), n, nil)
		if err != nil {
			t.Fatalf("WritePart at %d: %v", off, err)
		}
		wantNum := 1
		if prev != nil {
			wantNum = prev.Number + 1
		}
		if p.Number != wantNum || p.Offset != off || p.Size != n || len(p.HashState) == 0 || p.ETag == "" {
			t.Fatalf("WritePart returned %+v", p)
		}
		parts = append(parts, p)
		prev = &parts[len(parts)-1]
		off += n
	}
	return parts
}

func sameParts(t *testing.T, got, want []storage.Part) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("ListParts returned %d parts, want %d", len(got), len(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.Number != w.Number || g.Offset != w.Offset || g.Size != w.Size || g.ETag != w.ETag || !bytes.Equal(g.HashState, w.HashState) {
			t.Fatalf("ListParts[%d] = %+v, want %+v", i, g, w)
		}
	}
}

func (s *suite) testUpload(t *testing.T) {
	b := s.newBackend(t)
	ctx := t.Context()
	data, ref := Content(storage.Originals, 20, uploadSize)
	until := time.Now().Add(time.Hour).Truncate(time.Second)
	id, err := b.CreateUpload(ctx, ref, int64(len(data)), storage.PutOptions{RetainUntil: until, LegalHold: true})
	if err != nil {
		t.Fatal(err)
	}
	// Nothing is visible before Complete.
	if _, err := b.Stat(ctx, ref); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Stat before Complete: %v", err)
	}
	parts := writeParts(t, b, id, ref, data, nil, int64(len(data)))
	if len(parts) != 3 {
		t.Fatalf("%d parts", len(parts))
	}
	if _, err := b.Stat(ctx, ref); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Stat before Complete: %v", err)
	}
	got, err := b.ListParts(ctx, id, ref)
	if err != nil {
		t.Fatal(err)
	}
	sameParts(t, got, parts)
	// The last hash state is the whole object's.
	if sum, err := storage.SumHashState(parts[2].HashState); err != nil || sum != ref.Digest {
		t.Fatalf("last part's hash state sums to %v (%v), want %v", sum, err, ref.Digest)
	}
	obj, err := b.Complete(ctx, id, ref, parts)
	if err != nil {
		t.Fatalf("Complete: %v", err)
	}
	if obj.Size != int64(len(data)) || !obj.LegalHold || !obj.RetainUntil.Truncate(time.Second).Equal(until) {
		t.Fatalf("Complete returned %+v", obj)
	}
	if got := readAll(t, b, ref, 0, -1); !bytes.Equal(got, data) {
		t.Fatal("uploaded object reads back different bytes")
	}
	wantErr(t, "Delete of uploaded original", b.Delete(ctx, ref), storage.ErrRetained)
	_, err = b.ListParts(ctx, id, ref)
	wantErr(t, "ListParts after Complete", err, storage.ErrUploadNotFound)
	if err := b.ListUploads(ctx, time.Now().Add(time.Hour), func(u storage.UploadID, _ storage.Ref, _ time.Time) error {
		if u == id {
			return fmt.Errorf("completed upload %s still listed", id)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

func (s *suite) testUploadRestart(t *testing.T) {
	if s.cfg.reopen == nil {
		t.Fatal("storagetest.Run needs WithReopen to test resuming after a restart")
	}
	b1 := s.newBackend(t)
	ctx := t.Context()
	data, ref := Content(storage.Originals, 21, uploadSize)
	id, err := b1.CreateUpload(ctx, ref, int64(len(data)), storage.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	first := writeParts(t, b1, id, ref, data, nil, storage.MinPartSize)
	// "Restart": a new instance; the caller kept only the last Part.
	persisted := first[len(first)-1]
	b2 := s.cfg.reopen(t, b1)
	held, err := b2.ListParts(ctx, id, ref)
	if err != nil {
		t.Fatalf("ListParts after restart: %v", err)
	}
	sameParts(t, held, first)
	rest := writeParts(t, b2, id, ref, data, &persisted, int64(len(data)))
	obj, err := b2.Complete(ctx, id, ref, append(first, rest...))
	if err != nil {
		t.Fatalf("Complete after restart: %v", err)
	}
	if obj.Size != int64(len(data)) {
		t.Fatalf("Complete returned %+v", obj)
	}
	if got := readAll(t, b2, ref, 0, -1); !bytes.Equal(got, data) {
		t.Fatal("resumed upload reads back different bytes")
	}
}

func (s *suite) testUploadReplacePart(t *testing.T) {
	b := s.newBackend(t)
	ctx := t.Context()
	data, ref := Content(storage.Derivatives, 22, uploadSize)
	id, err := b.CreateUpload(ctx, ref, int64(len(data)), storage.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	junk, _ := Content(storage.Derivatives, 23, storage.MinPartSize)
	if _, err := b.WritePart(ctx, id, ref, nil, bytes.NewReader(junk), int64(len(junk)), nil); err != nil {
		t.Fatal(err)
	}
	// A retry of part 1 with the right bytes replaces it.
	parts := writeParts(t, b, id, ref, data, nil, int64(len(data)))
	if _, err := b.Complete(ctx, id, ref, parts); err != nil {
		t.Fatalf("Complete after replacing part 1: %v", err)
	}
	if got := readAll(t, b, ref, 0, -1); !bytes.Equal(got, data) {
		t.Fatal("object with replaced part reads back different bytes")
	}
}

// testUploadPartSum: a part written with the caller's expected SHA-256 is
// refused (and not recorded) when its bytes differ or fall short, and an
// upload whose parts all carry the right sums completes to the same bytes.
func (s *suite) testUploadPartSum(t *testing.T) {
	b := s.newBackend(t)
	ctx := t.Context()
	data, ref := Content(storage.Originals, 26, uploadSize)
	id, err := b.CreateUpload(ctx, ref, int64(len(data)), storage.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	const n = storage.MinPartSize
	sumOf := func(p []byte) *storage.Digest { d := storage.Digest(sha256.Sum256(p)); return &d }
	// Part 1 as declared.
	p1, err := b.WritePart(ctx, id, ref, nil, bytes.NewReader(data[:n]), n, sumOf(data[:n]))
	if err != nil {
		t.Fatalf("WritePart with the right sum: %v", err)
	}
	// Part 2: one byte altered after the sum was taken, then a short body.
	bad := bytes.Clone(data[n : 2*n])
	bad[n/2] ^= 1
	_, err = b.WritePart(ctx, id, ref, &p1, bytes.NewReader(bad), n, sumOf(data[n:2*n]))
	wantErr(t, "WritePart of altered bytes", err, storage.ErrDigestMismatch)
	_, err = b.WritePart(ctx, id, ref, &p1, bytes.NewReader(data[n:2*n-10]), n, sumOf(data[n:2*n]))
	wantErr(t, "WritePart of a short body", err, storage.ErrSizeMismatch)
	got, err := b.ListParts(ctx, id, ref)
	if err != nil {
		t.Fatal(err)
	}
	sameParts(t, got, []storage.Part{p1})
	// The same parts, now with the right bytes, complete the upload.
	p2, err := b.WritePart(ctx, id, ref, &p1, bytes.NewReader(data[n:2*n]), n, sumOf(data[n:2*n]))
	if err != nil {
		t.Fatalf("WritePart of part 2 with the right bytes: %v", err)
	}
	last := data[2*n:]
	p3, err := b.WritePart(ctx, id, ref, &p2, bytes.NewReader(last), int64(len(last)), sumOf(last))
	if err != nil {
		t.Fatalf("WritePart of part 3: %v", err)
	}
	if sum, err := storage.SumHashState(p3.HashState); err != nil || sum != ref.Digest {
		t.Fatalf("last part's hash state sums to %v (%v), want %v", sum, err, ref.Digest)
	}
	if _, err := b.Complete(ctx, id, ref, []storage.Part{p1, p2, p3}); err != nil {
		t.Fatalf("Complete: %v", err)
	}
	if got := readAll(t, b, ref, 0, -1); !bytes.Equal(got, data) {
		t.Fatal("upload with declared part sums reads back different bytes")
	}
}

func (s *suite) testUploadWrongDigest(t *testing.T) {
	b := s.newBackend(t)
	ctx := t.Context()
	data, _ := Content(storage.Originals, 24, uploadSize)
	_, claimed := Content(storage.Originals, 25, uploadSize)
	id, err := b.CreateUpload(ctx, claimed, int64(len(data)), storage.PutOptions{RetainUntil: time.Now().Add(time.Hour), LegalHold: true})
	if err != nil {
		t.Fatal(err)
	}
	parts := writeParts(t, b, id, claimed, data, nil, int64(len(data)))
	_, err = b.Complete(ctx, id, claimed, parts)
	wantErr(t, "Complete with wrong digest", err, storage.ErrDigestMismatch)
	assertAbsent(t, b, claimed)
	_, err = b.ListParts(ctx, id, claimed)
	wantErr(t, "ListParts after failed Complete", err, storage.ErrUploadNotFound)
}

// testUploadForgedState: a caller that hands back a hash state it made up
// (one that sums to the claimed digest although other bytes were
// uploaded) must not get the object committed.
func (s *suite) testUploadForgedState(t *testing.T) {
	b := s.newBackend(t)
	ctx := t.Context()
	data, _ := Content(storage.Originals, 33, uploadSize)
	claimedBytes, claimed := Content(storage.Originals, 34, uploadSize)
	id, err := b.CreateUpload(ctx, claimed, int64(len(data)), storage.PutOptions{LegalHold: true})
	if err != nil {
		t.Fatal(err)
	}
	parts := writeParts(t, b, id, claimed, data, nil, int64(len(data)))
	forge := func(n int) []byte {
		h := storage.NewHashState()
		h.Write(claimedBytes[:n])
		st, err := storage.MarshalHashState(h)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	forged := slices.Clone(parts)
	forged[len(forged)-1].HashState = forge(len(claimedBytes))
	_, err = b.Complete(ctx, id, claimed, forged)
	wantErr(t, "Complete with forged final hash state", err, storage.ErrInvalid)
	if _, err := b.Stat(ctx, claimed); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Stat after forged Complete: %v", err)
	}
	// Continuing from a forged previous part is refused too.
	prev := parts[0]
	prev.HashState = forge(int(prev.Size))
	_, err = b.WritePart(ctx, id, claimed, &prev, bytes.NewReader(data[prev.End():prev.End()+10]), 10, nil)
	wantErr(t, "WritePart after forged previous part", err, storage.ErrInvalid)
	// The honest parts still describe what was uploaded: wrong digest.
	_, err = b.Complete(ctx, id, claimed, parts)
	wantErr(t, "Complete with the recorded parts", err, storage.ErrDigestMismatch)
	assertAbsent(t, b, claimed)
}

func (s *suite) testUploadWrongSize(t *testing.T) {
	b := s.newBackend(t)
	ctx := t.Context()
	data, ref := Content(storage.Originals, 26, uploadSize)
	id, err := b.CreateUpload(ctx, ref, int64(len(data)), storage.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	parts := writeParts(t, b, id, ref, data, nil, 2*storage.MinPartSize)
	_, err = b.Complete(ctx, id, ref, parts)
	wantErr(t, "Complete of incomplete upload", err, storage.ErrSizeMismatch)
	assertAbsent(t, b, ref)
}

func (s *suite) testUploadPartBeyondSize(t *testing.T) {
	b := s.newBackend(t)
	ctx := t.Context()
	data, ref := Content(storage.Derivatives, 27, 1000)
	id, err := b.CreateUpload(ctx, ref, 999, storage.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = b.WritePart(ctx, id, ref, nil, bytes.NewReader(data), int64(len(data)), nil)
	wantErr(t, "WritePart past the declared size", err, storage.ErrSizeMismatch)
	// A part whose stream is shorter than n is refused too.
	_, err = b.WritePart(ctx, id, ref, nil, bytes.NewReader(data[:10]), 20, nil)
	if err == nil {
		t.Fatal("WritePart with short stream succeeded")
	}
	if err := b.Abort(ctx, id, ref); err != nil {
		t.Fatal(err)
	}
}

func (s *suite) testUploadAbort(t *testing.T) {
	b := s.newBackend(t)
	ctx := t.Context()
	data, ref := Content(storage.Originals, 28, uploadSize)
	id, err := b.CreateUpload(ctx, ref, int64(len(data)), storage.PutOptions{LegalHold: true})
	if err != nil {
		t.Fatal(err)
	}
	writeParts(t, b, id, ref, data, nil, storage.MinPartSize)
	// The upload belongs to its ref: another ref cannot touch it.
	_, other := Content(storage.Originals, 29, 10)
	wantErr(t, "Abort with another ref", b.Abort(ctx, id, other), storage.ErrUploadNotFound)
	if err := b.Abort(ctx, id, ref); err != nil {
		t.Fatalf("Abort: %v", err)
	}
	assertAbsent(t, b, ref)
	_, err = b.ListParts(ctx, id, ref)
	wantErr(t, "ListParts after Abort", err, storage.ErrUploadNotFound)
	_, err = b.WritePart(ctx, id, ref, nil, bytes.NewReader(data[:10]), 10, nil)
	wantErr(t, "WritePart after Abort", err, storage.ErrUploadNotFound)
	wantErr(t, "second Abort", b.Abort(ctx, id, ref), storage.ErrUploadNotFound)
}

func (s *suite) testListUploads(t *testing.T) {
	b := s.newBackend(t)
	ctx := t.Context()
	start := time.Now()
	_, ref1 := Content(storage.Originals, 30, 100)
	_, ref2 := Content(storage.Derivatives, 31, 100)
	id1, err := b.CreateUpload(ctx, ref1, 100, storage.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	id2, err := b.CreateUpload(ctx, ref2, 100, storage.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	collect := func(olderThan time.Time) map[storage.UploadID]storage.Ref {
		m := map[storage.UploadID]storage.Ref{}
		if err := b.ListUploads(ctx, olderThan, func(id storage.UploadID, ref storage.Ref, started time.Time) error {
			if started.Before(start.Add(-time.Minute)) || started.After(time.Now().Add(time.Minute)) {
				return fmt.Errorf("upload %s started %v, not about now", id, started)
			}
			m[id] = ref
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return m
	}
	got := collect(time.Now().Add(time.Hour))
	if len(got) != 2 || got[id1] != ref1 || got[id2] != ref2 {
		t.Fatalf("ListUploads = %v, want %s→%s and %s→%s", got, id1, ref1, id2, ref2)
	}
	if got := collect(start.Add(-time.Hour)); len(got) != 0 {
		t.Fatalf("ListUploads(older than an hour ago) = %v, want none", got)
	}
	// Cleanup as a sweeper would do it.
	for id, ref := range collect(time.Now().Add(time.Hour)) {
		if err := b.Abort(ctx, id, ref); err != nil {
			t.Fatal(err)
		}
	}
	if got := collect(time.Now().Add(time.Hour)); len(got) != 0 {
		t.Fatalf("ListUploads after aborting all = %v", got)
	}
}

func (s *suite) testUploadExisting(t *testing.T) {
	b := s.newBackend(t)
	ctx := t.Context()
	data, ref := Content(storage.Originals, 32, uploadSize)
	until := time.Now().Add(3 * time.Hour).Truncate(time.Second)
	put(t, b, ref, data, storage.PutOptions{RetainUntil: until})
	id, err := b.CreateUpload(ctx, ref, int64(len(data)), storage.PutOptions{RetainUntil: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	parts := writeParts(t, b, id, ref, data, nil, int64(len(data)))
	obj, err := b.Complete(ctx, id, ref, parts)
	if err != nil {
		t.Fatalf("Complete of an upload whose object exists: %v", err)
	}
	if !obj.RetainUntil.Truncate(time.Second).Equal(until) {
		t.Fatalf("Complete returned retain-until %v, want the existing %v", obj.RetainUntil, until)
	}
	if n := len(listed(t, b, storage.Originals)); n != 1 {
		t.Fatalf("List shows %d objects, want 1", n)
	}
	assertNoUploads(t, b)
}

func assertNoUploads(t *testing.T, b storage.Backend) {
	t.Helper()
	if err := b.ListUploads(t.Context(), time.Now().Add(time.Hour), func(id storage.UploadID, ref storage.Ref, _ time.Time) error {
		return fmt.Errorf("upload %s for %s left behind", id, ref)
	}); err != nil {
		t.Fatal(err)
	}
}

func (s *suite) testConcurrentPuts(t *testing.T) {
	b := s.newBackend(t)
	ctx := t.Context()
	const distinct, same = 6, 4
	type job struct {
		data []byte
		ref  storage.Ref
	}
	var jobs []job
	for i := range distinct {
		d, r := Content(storage.Originals, uint64(40+i), 64<<10+i)
		jobs = append(jobs, job{d, r})
	}
	d, r := Content(storage.Originals, 60, 256<<10)
	for range same {
		jobs = append(jobs, job{d, r})
	}
	var wg sync.WaitGroup
	errs := make([]error, len(jobs))
	for i, j := range jobs {
		wg.Go(func() {
			_, errs[i] = b.Put(ctx, j.ref, int64(len(j.data)), bytes.NewReader(j.data), storage.PutOptions{RetainUntil: time.Now().Add(time.Hour)})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("concurrent Put %d: %v", i, err)
		}
	}
	got := listed(t, b, storage.Originals)
	if len(got) != distinct+1 {
		t.Fatalf("List shows %d objects, want %d", len(got), distinct+1)
	}
	for _, j := range jobs {
		if got := readAll(t, b, j.ref, 0, -1); !bytes.Equal(got, j.data) {
			t.Fatalf("%s reads back different bytes", j.ref)
		}
	}
	assertNoUploads(t, b)
}

// testStream writes an object of unknown digest through
// storage.CreateStream (the backend's StreamCreator or the staging
// fallback): it is named by the SHA-256 of the bytes written, readable,
// and locked with the options given.
func (s *suite) testStream(t *testing.T) {
	b := s.newBackend(t)
	ctx := t.Context()
	data, ref := Content(storage.Derivatives, 71, 11<<20+17) // three parts of 5 MiB on s3
	until := time.Now().Add(time.Hour).Truncate(time.Second)
	w, err := storage.CreateStream(ctx, b, storage.Derivatives, storage.PutOptions{RetainUntil: until}, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for off := 0; off < len(data); off += 100_000 { // uneven writes
		if _, err := w.Write(data[off:min(off+100_000, len(data))]); err != nil {
			t.Fatal(err)
		}
	}
	obj, err := w.Commit(ctx)
	if err != nil {
		t.Fatalf("Commit: %v", err)
	}
	if obj.Ref != ref || obj.Size != int64(len(data)) {
		t.Fatalf("Commit = %s (%d bytes), want %s (%d bytes)", obj.Ref, obj.Size, ref, len(data))
	}
	if got := readAll(t, b, ref, 0, -1); !bytes.Equal(got, data) {
		t.Fatal("streamed object reads back different bytes")
	}
	wantErr(t, "Delete of retained streamed object", b.Delete(ctx, ref), storage.ErrRetained)
	if _, err := w.Write([]byte("x")); err == nil {
		t.Fatal("Write after Commit succeeded")
	}
	// The same bytes again: the existing object, unchanged.
	w2, err := storage.CreateStream(ctx, b, storage.Derivatives, storage.PutOptions{}, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	w2.Write(data)
	obj2, err := w2.Commit(ctx)
	if err != nil || obj2.Ref != ref || !obj2.RetainUntil.Truncate(time.Second).Equal(until) {
		t.Fatalf("second Commit = %+v, %v; want the existing object retained until %v", obj2, err, until)
	}
	if _, err := storage.CreateStream(ctx, b, storage.Namespace("bogus"), storage.PutOptions{}, ""); !errors.Is(err, storage.ErrInvalid) {
		t.Fatalf("CreateStream(bogus namespace) = %v, want ErrInvalid", err)
	}
}

func (s *suite) testStreamAbort(t *testing.T) {
	b := s.newBackend(t)
	data, ref := Content(storage.Derivatives, 72, 1<<20)
	w, err := storage.CreateStream(t.Context(), b, storage.Derivatives, storage.PutOptions{}, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	w.Write(data)
	if err := w.Abort(); err != nil {
		t.Fatalf("Abort: %v", err)
	}
	if _, err := w.Commit(t.Context()); err == nil {
		t.Fatal("Commit after Abort succeeded")
	}
	assertAbsent(t, b, ref)
}
