package s3_test

import (
	"bufio"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/opendems/opendems/storage"
	"github.com/opendems/opendems/storage/s3"
	"github.com/opendems/opendems/storage/storagetest"
)

const benchSize = 256 << 20

// source streams benchSize deterministic pseudo-random bytes, so neither
// side of the benchmark holds the object in memory.
func source() io.Reader {
	return io.LimitReader(rand.NewChaCha8([32]byte{'b', 'e', 'n', 'c', 'h'}), benchSize)
}

// resetPeakRSS drops freed memory and resets VmHWM (Linux: writing 5 to
// clear_refs), so the next peakRSS reading belongs to one contender.
func resetPeakRSS(b *testing.B) {
	runtime.GC()
	debug.FreeOSMemory()
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		b.Logf("cannot reset peak RSS (%v); peaks are cumulative", err)
	}
}

// peakRSS returns VmHWM from /proc/self/status in MiB.
func peakRSS(b *testing.B) float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			if err != nil {
				b.Fatal(err)
			}
			return kb / 1024
		}
	}
	b.Fatal("no VmHWM in /proc/self/status")
	return 0
}

type measured struct {
	mbps, rssMiB float64
}

func measure(b *testing.B, run func() error) measured {
	b.Helper()
	resetPeakRSS(b)
	start := time.Now()
	if err := run(); err != nil {
		b.Fatal(err)
	}
	d := time.Since(start)
	return measured{mbps: benchSize / 1e6 / d.Seconds(), rssMiB: peakRSS(b)}
}

// BenchmarkPut256MiB compares, on the same MinIO and bucket, our verified
// Put and our resumable-upload path (CreateUpload, 16 MiB WriteParts,
// Complete; once without and once with declared part SHA-256s, as ingest
// calls it) with plain minio-go PutObject of the same 256 MiB stream.
func BenchmarkPut256MiB(b *testing.B) {
	env := storagetest.S3Env(b)
	st, err := s3.New(s3.Config{Endpoint: env.Endpoint, AccessKey: env.AccessKey, SecretKey: env.SecretKey, Bucket: env.Bucket})
	if err != nil {
		b.Fatal(err)
	}
	ctx := b.Context()
	if err := st.Check(ctx); err != nil {
		b.Fatal(err)
	}
	h := sha256.New()
	if _, err := io.Copy(h, source()); err != nil {
		b.Fatal(err)
	}
	ref := storage.Ref{Namespace: storage.Originals, Digest: storage.Digest(h.Sum(nil))}
	partSize := st.Config().PartSize
	// Each part's SHA-256 as a client would declare it (ingest: the
	// agent's X-Chunk-SHA256), computed before timing like the agent does.
	var sums []storage.Digest
	for r := source(); ; {
		ph := sha256.New()
		n, err := io.CopyN(ph, r, partSize)
		if n > 0 {
			sums = append(sums, storage.Digest(ph.Sum(nil)))
		}
		if err == io.EOF {
			break
		} else if err != nil {
			b.Fatal(err)
		}
	}
	uploadParts := func(declared bool) error {
		id, err := st.CreateUpload(ctx, ref, benchSize, storage.PutOptions{})
		if err != nil {
			return err
		}
		r := source()
		var parts []storage.Part
		var prev *storage.Part
		for off := int64(0); off < benchSize; off += partSize {
			var sum *storage.Digest
			if declared {
				sum = &sums[off/partSize]
			}
			p, err := st.WritePart(ctx, id, ref, prev, r, min(partSize, benchSize-off), sum)
			if err != nil {
				return err
			}
			parts = append(parts, p)
			prev = &parts[len(parts)-1]
		}
		_, err = st.Complete(ctx, id, ref, parts)
		return err
	}

	var ours, upload, declared, base measured
	for i := 0; b.Loop(); i++ {
		base = measure(b, func() error {
			_, err := env.Admin.PutObject(ctx, env.Bucket, fmt.Sprintf("baseline/%d", i), source(), benchSize, minio.PutObjectOptions{})
			return err
		})
		ours = measure(b, func() error {
			_, err := st.Put(ctx, ref, benchSize, source(), storage.PutOptions{})
			return err
		})
		if err := st.Delete(ctx, ref); err != nil {
			b.Fatal(err)
		}
		upload = measure(b, func() error { return uploadParts(false) })
		if err := st.Delete(ctx, ref); err != nil {
			b.Fatal(err)
		}
		declared = measure(b, func() error { return uploadParts(true) })
		if err := st.Delete(ctx, ref); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(ours.mbps, "ours_put_MB/s")
	b.ReportMetric(upload.mbps, "ours_upload_MB/s")
	b.ReportMetric(base.mbps, "baseline_MB/s")
	b.ReportMetric(ours.mbps/base.mbps, "ratio_put")
	b.ReportMetric(upload.mbps/base.mbps, "ratio_upload")
	b.ReportMetric(declared.mbps, "ours_upload_declared_MB/s")
	b.ReportMetric(declared.mbps/base.mbps, "ratio_upload_declared")
	b.ReportMetric(declared.rssMiB, "ours_upload_declared_peak_RSS_MiB")
	b.ReportMetric(ours.rssMiB, "ours_put_peak_RSS_MiB")
	b.ReportMetric(upload.rssMiB, "ours_upload_peak_RSS_MiB")
	b.ReportMetric(base.rssMiB, "baseline_peak_RSS_MiB")
}
