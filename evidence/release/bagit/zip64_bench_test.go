package bagit

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// zeros is an endless reader of zero bytes (cheap to produce, so the
// benchmark measures the bag, not the source).
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// BenchmarkZip64Entry writes a bag whose one payload file is larger than
// 4 GiB (so its sizes need ZIP64 records) and verifies it, including the
// ZIP layout check. It runs under `make bench` only (OPENDEMS_BENCH=1):
// a smaller file would not exercise ZIP64.
func BenchmarkZip64Entry(b *testing.B) {
	if os.Getenv("OPENDEMS_BENCH") != "1" {
		b.Skip("needs OPENDEMS_BENCH=1 (writes 4.1 GiB)")
	}
	const size = 4<<30 + 100<<20
	path := filepath.Join(b.TempDir(), "big.zip")
	for i := 0; i < b.N; i++ {
		f, err := os.Create(path)
		if err != nil {
			b.Fatal(err)
		}
		t0 := time.Now()
		w, err := NewZipWriter(f, "big", Options{SigningKey: testKey()})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := w.AddPayload(context.Background(), "big.bin", io.LimitReader(zeros{}, size)); err != nil {
			b.Fatal(err)
		}
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
		f.Close()
		write := time.Since(t0)
		t0 = time.Now()
		rep, err := verifyPath(b, path, VerifyOptions{RequireSignature: true})
		if err != nil {
			b.Fatal(err)
		}
		if rep.PayloadBytes != size {
			b.Fatalf("payload %d bytes", rep.PayloadBytes)
		}
		// Info-ZIP's unzip, an independent ZIP64 reader, tests every CRC.
		if unzip, err := exec.LookPath("unzip"); err == nil {
			if out, err := exec.Command(unzip, "-tq", path).CombinedOutput(); err != nil {
				b.Fatalf("unzip -t: %v\n%s", err, out)
			} else {
				b.Logf("unzip -tq: %s", strings.TrimSpace(string(out)))
			}
		}
		b.ReportMetric(float64(size)/1e9/write.Seconds(), "write_GB/s")
		b.ReportMetric(float64(size)/1e9/time.Since(t0).Seconds(), "verify_GB/s")
		os.Remove(path)
	}
}
