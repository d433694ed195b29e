package storage

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"testing"
)

func TestCopyVerifiedWithholdsTheTailOnMismatch(t *testing.T) {
	for _, size := range []int{0, 1, copyHoldBack - 1, copyHoldBack, copyHoldBack + 1, 3*copyHoldBack + 17} {
		data := make([]byte, size)
		rand.Read(data)
		want := Digest(sha256.Sum256(data))
		var out bytes.Buffer
		n, err := CopyVerified(&out, bytes.NewReader(data), want, int64(size))
		if err != nil || n != int64(size) || !bytes.Equal(out.Bytes(), data) {
			t.Fatalf("size %d: intact copy: n %d err %v", size, n, err)
		}
		if size == 0 {
			continue
		}
		for _, at := range []int{0, size / 2, size - 1} {
			bad := bytes.Clone(data)
			bad[at] ^= 1
			out.Reset()
			n, err := CopyVerified(&out, bytes.NewReader(bad), want, int64(size))
			if !errors.Is(err, ErrDigestMismatch) || n >= int64(size) || out.Len() >= size {
				t.Fatalf("size %d, byte %d changed: wrote %d of %d, err %v", size, at, n, size, err)
			}
		}
		out.Reset()
		n, err = CopyVerified(&out, bytes.NewReader(data[:size-1]), want, int64(size))
		if !errors.Is(err, ErrSizeMismatch) || n >= int64(size) {
			t.Fatalf("size %d short object: wrote %d, err %v", size, n, err)
		}
	}
}
