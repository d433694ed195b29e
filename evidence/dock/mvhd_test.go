package dock

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

func creationTimeOf(t *testing.T, path string) (time.Time, error) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	return MP4CreationTime(f, st.Size())
}

// Fixtures made by ffmpeg with -metadata creation_time (one with moov
// first via +faststart, one with moov after mdat, one without a time).
func TestMP4CreationTimeFixtures(t *testing.T) {
	tests := []struct {
		file string
		want time.Time
		err  error
	}{
		{"moov-first.mp4", time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC), nil},
		{"moov-last.mp4", time.Date(2025, 12, 31, 23, 59, 58, 0, time.UTC), nil},
		{"no-time.mp4", time.Time{}, ErrNoCreationTime},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			got, err := creationTimeOf(t, filepath.Join("testdata", tc.file))
			if !errors.Is(err, tc.err) || !got.Equal(tc.want) {
				t.Fatalf("= %v, %v; want %v, %v", got, err, tc.want, tc.err)
			}
		})
	}
}

// The same against a file ffmpeg makes now (an independent reference).
func TestMP4CreationTimeFFmpeg(t *testing.T) {
	ff, err := exec.LookPath("ffmpeg")
	if err != nil {
		t.Skip("ffmpeg not installed; the committed fixtures cover the parser")
	}
	p := filepath.Join(t.TempDir(), "x.mp4")
	out, err := exec.Command(ff, "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=32x24:rate=2", "-t", "1",
		"-c:v", "mpeg4", "-metadata", "creation_time=2031-07-08T09:10:11Z", p).CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg: %v: %s", err, out)
	}
	got, err := creationTimeOf(t, p)
	if err != nil || !got.Equal(time.Date(2031, 7, 8, 9, 10, 11, 0, time.UTC)) {
		t.Fatalf("= %v, %v", got, err)
	}
}

func box(typ string, payload ...[]byte) []byte {
	body := bytes.Join(payload, nil)
	b := binary.BigEndian.AppendUint32(nil, uint32(8+len(body)))
	return append(append(b, typ...), body...)
}

func mvhdV0(secs uint32) []byte {
	p := []byte{0, 0, 0, 0}
	p = binary.BigEndian.AppendUint32(p, secs)
	return box("mvhd", p, make([]byte, 92))
}

func TestMP4CreationTimeSynthetic(t *testing.T) {
	secs2020 := uint32(time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC).Sub(mp4Epoch) / time.Second)
	v1 := []byte{1, 0, 0, 0}
	v1 = binary.BigEndian.AppendUint64(v1, uint64(secs2020))
	large := append(binary.BigEndian.AppendUint32(nil, 1), "free"...)
	large = binary.BigEndian.AppendUint64(large, 16+4)
	large = append(large, 0, 0, 0, 0)
	tests := []struct {
		name string
		data []byte
		want time.Time
		err  error
	}{
		{"v0", append(box("ftyp", []byte("isom")), box("moov", mvhdV0(secs2020))...), time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC), nil},
		{"v1", box("moov", box("mvhd", v1, make([]byte, 100))), time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC), nil},
		{"64-bit box before moov", append(large, box("moov", mvhdV0(secs2020))...), time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC), nil},
		{"zero time", box("moov", mvhdV0(0)), time.Time{}, ErrNoCreationTime},
		{"1904", box("moov", mvhdV0(1)), time.Time{}, ErrNoCreationTime},
		{"no moov", box("ftyp", []byte("isom")), time.Time{}, ErrNotMP4},
		{"empty", nil, time.Time{}, ErrNotMP4},
		{"box larger than file", append(binary.BigEndian.AppendUint32(nil, 1000), "moov"...), time.Time{}, ErrMalformedMP4Box},
		{"box smaller than header", append(binary.BigEndian.AppendUint32(nil, 4), "moov"...), time.Time{}, ErrMalformedMP4Box},
		{"bad version", box("moov", box("mvhd", []byte{7, 0, 0, 0}, make([]byte, 20))), time.Time{}, ErrMalformedMP4Box},
		{"tiny mvhd", box("moov", box("mvhd")), time.Time{}, ErrMalformedMP4Box},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := MP4CreationTime(bytes.NewReader(tc.data), int64(len(tc.data)))
			if !errors.Is(err, tc.err) || !got.Equal(tc.want) {
				t.Fatalf("= %v, %v; want %v, %v", got, err, tc.want, tc.err)
			}
		})
	}
}

func FuzzMP4CreationTime(f *testing.F) {
	for _, name := range []string{"moov-first.mp4", "moov-last.mp4", "no-time.mp4"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add(box("moov", mvhdV0(3_000_000_000)))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := MP4CreationTime(bytes.NewReader(b), int64(len(b)))
		if err == nil && (got.Year() < 1970 || got.Year() > 2200) {
			t.Fatalf("accepted time %v", got)
		}
	})
}
