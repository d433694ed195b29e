package fs_test

import (
	"crypto/sha256"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/opendems/opendems/storage"
)

const benchSize = 256 << 20

func source() io.Reader {
	return io.LimitReader(rand.NewChaCha8([32]byte{'f', 's'}), benchSize)
}

// BenchmarkPut256MiB compares our verified Put (hash while writing, fsync,
// sidecar, link) with the plain baseline of copying the same stream into
// a file and fsyncing it, on the same filesystem.
func BenchmarkPut256MiB(b *testing.B) {
	root := b.TempDir()
	st := newStoreB(b, root)
	h := sha256.New()
	if _, err := io.Copy(h, source()); err != nil {
		b.Fatal(err)
	}
	ref := storage.Ref{Namespace: storage.Derivatives, Digest: storage.Digest(h.Sum(nil))}
	var ours, base time.Duration
	for b.Loop() {
		start := time.Now()
		f, err := os.Create(filepath.Join(root, "baseline"))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(f, source()); err != nil {
			b.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
		f.Close()
		base += time.Since(start)
		os.Remove(f.Name())

		start = time.Now()
		if _, err := st.Put(b.Context(), ref, benchSize, source(), storage.PutOptions{}); err != nil {
			b.Fatal(err)
		}
		ours += time.Since(start)
		if err := st.Delete(b.Context(), ref); err != nil {
			b.Fatal(err)
		}
	}
	mb := float64(benchSize) / 1e6 * float64(b.N)
	b.ReportMetric(mb/ours.Seconds(), "ours_MB/s")
	b.ReportMetric(mb/base.Seconds(), "baseline_MB/s")
	b.ReportMetric(base.Seconds()/ours.Seconds(), "ratio")
}
