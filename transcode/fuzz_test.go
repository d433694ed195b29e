package transcode_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/opendems/opendems/transcode"
)

// FuzzProbe feeds arbitrary bytes to Probe: it must return a result or a
// *MediaError, never panic or crash inside FFmpeg. The committed corpus in
// testdata/fuzz/FuzzProbe holds truncated and bit-flipped small files.
func FuzzProbe(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte("RIFF\x24\x00\x00\x00WAVEfmt "))
	f.Add([]byte("\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2"))
	f.Add([]byte("\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, "in")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		r, err := transcode.Probe(context.Background(), path)
		if err != nil {
			var me *transcode.MediaError
			if !errors.As(err, &me) {
				t.Fatalf("error is not a *MediaError: %#v", err)
			}
			if r != nil {
				t.Fatal("result with error")
			}
			return
		}
		if !r.HasVideo && !r.HasAudio {
			t.Fatal("success without audio or video")
		}
	})
}

// FuzzParseISO6709: never panics; accepted values are in range.
func FuzzParseISO6709(f *testing.F) {
	for _, s := range []string{"+51.5074-000.1278/", "+37.3318-122.0312+012.345/", "-1-2CRSx/", "", "+", "+.-./"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		loc, err := transcode.ParseISO6709(s)
		if err != nil {
			return
		}
		if loc.Latitude < -90 || loc.Latitude > 90 || loc.Longitude < -180 || loc.Longitude > 180 {
			t.Fatalf("%q accepted out of range: %+v", s, loc)
		}
	})
}
