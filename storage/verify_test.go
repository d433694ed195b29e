package storage_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/opendems/opendems/storage"
)

func TestHashingReader(t *testing.T) {
	data := []byte(strings.Repeat("evidence ", 1000))
	good := storage.Digest(sha256.Sum256(data))
	bad := good
	bad[0] ^= 1
	for _, tc := range []struct {
		name string
		r    io.Reader
		want storage.Digest
		size int64
		err  error // nil: clean io.EOF and Verified
	}{
		{"match", bytes.NewReader(data), good, int64(len(data)), nil},
		{"match, size unchecked", bytes.NewReader(data), good, -1, nil},
		{"match, one byte reads", iotest.OneByteReader(bytes.NewReader(data)), good, int64(len(data)), nil},
		{"digest mismatch", bytes.NewReader(data), bad, int64(len(data)), storage.ErrDigestMismatch},
		{"short", bytes.NewReader(data[:100]), good, int64(len(data)), storage.ErrSizeMismatch},
		{"long", bytes.NewReader(append(data, 'x')), good, int64(len(data)), storage.ErrSizeMismatch},
		{"empty", bytes.NewReader(nil), storage.Digest(sha256.Sum256(nil)), 0, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := storage.NewHashingReader(tc.r, tc.want, tc.size)
			got, err := io.ReadAll(v)
			if tc.err == nil {
				if err != nil || !v.Verified() || !bytes.HasPrefix(data, got) {
					t.Fatalf("ReadAll: %v, verified %v", err, v.Verified())
				}
				return
			}
			if !errors.Is(err, tc.err) || v.Verified() {
				t.Fatalf("ReadAll: %v (verified %v), want %v", err, v.Verified(), tc.err)
			}
			// The error is sticky: reading on never reports success.
			if _, err2 := v.Read(make([]byte, 10)); !errors.Is(err2, tc.err) {
				t.Fatalf("second Read: %v", err2)
			}
		})
	}
}

func TestHashingReaderPassesReadErrors(t *testing.T) {
	boom := errors.New("disk on fire")
	v := storage.NewHashingReader(iotest.ErrReader(boom), storage.Digest{}, 10)
	if _, err := io.ReadAll(v); !errors.Is(err, boom) || v.Verified() {
		t.Fatalf("ReadAll: %v", err)
	}
}

func TestHashStateRoundTrip(t *testing.T) {
	data := []byte(strings.Repeat("0123456789", 30))
	h := storage.NewHashState()
	h.Write(data[:123])
	st, err := storage.MarshalHashState(h)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := storage.HashStateLen(st); err != nil || n != 123 {
		t.Fatalf("HashStateLen = %d, %v; want 123", n, err)
	}
	h2, err := storage.RestoreHashState(st)
	if err != nil {
		t.Fatal(err)
	}
	h2.Write(data[123:])
	st2, _ := storage.MarshalHashState(h2)
	if d, err := storage.SumHashState(st2); err != nil || d != sha256.Sum256(data) {
		t.Fatalf("SumHashState = %v, %v", d, err)
	}
	if d, err := storage.SumHashState(nil); err != nil || d != sha256.Sum256(nil) {
		t.Fatalf("SumHashState(nil) = %v, %v", d, err)
	}
	for _, bad := range [][]byte{[]byte("nonsense"), st[:len(st)-1], append([]byte("md5\x01"), st[4:]...)} {
		if _, err := storage.RestoreHashState(bad); !errors.Is(err, storage.ErrInvalid) {
			t.Errorf("RestoreHashState(%q...): %v, want ErrInvalid", bad[:4], err)
		}
		if _, err := storage.HashStateLen(bad); !errors.Is(err, storage.ErrInvalid) {
			t.Errorf("HashStateLen(%q...): %v, want ErrInvalid", bad[:4], err)
		}
	}
}

func TestClampRange(t *testing.T) {
	for _, tc := range []struct {
		size, off, n, want int64
		err                bool
	}{
		{100, 0, -1, 100, false},
		{100, 10, 20, 20, false},
		{100, 90, 20, 10, false},
		{100, 100, -1, 0, false},
		{100, 0, 0, 0, false},
		{100, 101, 1, 0, true},
		{100, -1, 1, 0, true},
		{0, 0, -1, 0, false},
	} {
		got, err := storage.ClampRange(tc.size, tc.off, tc.n)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("ClampRange(%d, %d, %d) = %d, %v", tc.size, tc.off, tc.n, got, err)
		}
		if err != nil && !errors.Is(err, storage.ErrInvalid) {
			t.Errorf("error %v is not ErrInvalid", err)
		}
	}
}

func TestRefValidate(t *testing.T) {
	d := storage.Digest(sha256.Sum256([]byte("x")))
	for _, tc := range []struct {
		ref storage.Ref
		ok  bool
	}{
		{storage.Ref{Namespace: storage.Originals, Digest: d}, true},
		{storage.Ref{Namespace: storage.Checkpoints, Digest: d}, true},
		{storage.Ref{Namespace: "../etc", Digest: d}, false},
		{storage.Ref{Namespace: storage.Originals}, false},
	} {
		if err := tc.ref.Validate(); (err == nil) != tc.ok || (err != nil && !errors.Is(err, storage.ErrInvalid)) {
			t.Errorf("Validate(%v) = %v", tc.ref, err)
		}
	}
}

func FuzzParseDigest(f *testing.F) {
	f.Add("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
	f.Add("E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855")
	f.Add("zz")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		d, err := storage.ParseDigest(s)
		if err != nil {
			return
		}
		if !strings.EqualFold(d.String(), s) {
			t.Fatalf("ParseDigest(%q) = %s", s, d)
		}
	})
}

func FuzzRestoreHashState(f *testing.F) {
	h := storage.NewHashState()
	h.Write([]byte("seed"))
	st, _ := storage.MarshalHashState(h)
	f.Add(st)
	f.Add([]byte{})
	f.Add([]byte("sha\x03"))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := storage.RestoreHashState(b)
		if err != nil {
			if !errors.Is(err, storage.ErrInvalid) {
				t.Fatalf("error %v is not ErrInvalid", err)
			}
			return
		}
		// A state that restores must marshal back and report a length.
		out, err := storage.MarshalHashState(h)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := storage.HashStateLen(out); err != nil {
			t.Fatal(err)
		}
	})
}
