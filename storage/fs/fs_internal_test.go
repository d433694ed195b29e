package fs_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/opendems/opendems/storage"
	"github.com/opendems/opendems/storage/fs"
	"github.com/opendems/opendems/storage/storagetest"
)

func objectPath(root string, ref storage.Ref) string {
	h := ref.Digest.String()
	return filepath.Join(root, string(ref.Namespace), h[:2], h[2:4], h)
}

// dirEntries lists what a directory under root holds.
func dirEntries(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func TestOriginalsAreReadOnlyFiles(t *testing.T) {
	root := t.TempDir()
	st := newStore(t, root)
	data, ref := storagetest.Content(storage.Originals, 1, 1000)
	if _, err := st.Put(t.Context(), ref, 1000, bytes.NewReader(data), storage.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(objectPath(root, ref))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o444 {
		t.Fatalf("mode %v, want 0444", fi.Mode().Perm())
	}
}

func TestFailedPutsLeaveNoTempFiles(t *testing.T) {
	root := t.TempDir()
	st := newStore(t, root)
	data, _ := storagetest.Content(storage.Originals, 2, 5000)
	_, claimed := storagetest.Content(storage.Originals, 3, 5000)
	for _, size := range []int64{5000, 4999, 5001} {
		if _, err := st.Put(t.Context(), claimed, size, bytes.NewReader(data), storage.PutOptions{}); err == nil {
			t.Fatalf("Put of size %d succeeded", size)
		}
	}
	if left := dirEntries(t, filepath.Join(root, "tmp")); len(left) != 0 {
		t.Fatalf("tmp/ holds %v after failed puts", left)
	}
	if _, err := os.Stat(objectPath(root, claimed) + ".json"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("sidecar of failed put: %v", err)
	}
}

// TestCorruptedStagingNeverPromoted flips a byte of the staged upload on
// disk after its parts were written and hashed: Complete must re-read the
// bytes, refuse, and leave nothing.
func TestCorruptedStagingNeverPromoted(t *testing.T) {
	root := t.TempDir()
	st := newStore(t, root)
	ctx := t.Context()
	data, ref := storagetest.Content(storage.Originals, 4, 3000)
	id, err := st.CreateUpload(ctx, ref, 3000, storage.PutOptions{RetainUntil: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	p1, err := st.WritePart(ctx, id, ref, nil, bytes.NewReader(data[:2000]), 2000, nil)
	if err != nil {
		t.Fatal(err)
	}
	p2, err := st.WritePart(ctx, id, ref, &p1, bytes.NewReader(data[2000:]), 1000, nil)
	if err != nil {
		t.Fatal(err)
	}
	staged := filepath.Join(root, "uploads", string(id), "data")
	f, err := os.OpenFile(staged, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte{data[1234] ^ 0x80}, 1234); err != nil {
		t.Fatal(err)
	}
	f.Close()
	_, err = st.Complete(ctx, id, ref, []storage.Part{p1, p2})
	if !errors.Is(err, storage.ErrDigestMismatch) {
		t.Fatalf("Complete of corrupted staging: %v, want ErrDigestMismatch", err)
	}
	if _, err := st.Stat(ctx, ref); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Stat: %v", err)
	}
	if left := dirEntries(t, filepath.Join(root, "uploads")); len(left) != 0 {
		t.Fatalf("uploads/ holds %v", left)
	}
}

func TestUnreadableSidecarRefusesDelete(t *testing.T) {
	root := t.TempDir()
	st := newStore(t, root)
	data, ref := storagetest.Content(storage.Derivatives, 5, 100)
	if _, err := st.Put(t.Context(), ref, 100, bytes.NewReader(data), storage.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(objectPath(root, ref)+".json", []byte("{garbage"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := st.Delete(t.Context(), ref); !errors.Is(err, storage.ErrRetained) {
		t.Fatalf("Delete with corrupt sidecar: %v, want ErrRetained", err)
	}
	if _, err := os.Stat(objectPath(root, ref)); err != nil {
		t.Fatalf("object gone: %v", err)
	}
}

func TestRetentionUsesClock(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	st, err := fs.New(t.TempDir(), &fs.Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	data, ref := storagetest.Content(storage.Originals, 6, 100)
	if _, err := st.Put(t.Context(), ref, 100, bytes.NewReader(data), storage.PutOptions{RetainUntil: now.Add(24 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		at   time.Time
		want error
	}{
		{now.Add(23 * time.Hour), storage.ErrRetained},
		{now.Add(24*time.Hour - time.Nanosecond), storage.ErrRetained},
		{now.Add(24 * time.Hour), nil},
	} {
		now = tc.at
		err := st.Delete(t.Context(), ref)
		if !errors.Is(err, tc.want) && !(tc.want == nil && err == nil) {
			t.Fatalf("Delete at %v: %v, want %v", tc.at, err, tc.want)
		}
	}
}

func TestMalformedUploadIDs(t *testing.T) {
	st := newStore(t, t.TempDir())
	_, ref := storagetest.Content(storage.Originals, 7, 10)
	for _, id := range []storage.UploadID{"", "../../etc", "0123456789ABCDEF0123456789abcdef", "0123"} {
		if _, err := st.ListParts(t.Context(), id, ref); !errors.Is(err, storage.ErrUploadNotFound) {
			t.Errorf("ListParts(%q): %v, want ErrUploadNotFound", id, err)
		}
	}
}

func TestNewRejectsEmptyRoot(t *testing.T) {
	if _, err := fs.New("", nil); !errors.Is(err, storage.ErrInvalid) {
		t.Fatalf("New(\"\"): %v", err)
	}
}

// TestCheckUnwritableRoot breaks the root so that no file can be created
// in it (a file where the tmp/ directory should be: this fails for root
// too, unlike permission bits).
func TestCheckUnwritableRoot(t *testing.T) {
	root := t.TempDir()
	st := newStore(t, root)
	if err := st.Check(t.Context()); err != nil {
		t.Fatalf("Check on healthy root: %v", err)
	}
	tmp := filepath.Join(root, "tmp")
	if err := os.Remove(tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tmp, nil, 0o444); err != nil {
		t.Fatal(err)
	}
	err := st.Check(t.Context())
	if err == nil {
		t.Fatal("Check on unwritable root succeeded")
	}
	t.Logf("Check: %v", err)
}
