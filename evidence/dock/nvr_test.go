package dock

import (
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseNVRFileName(t *testing.T) {
	loc := time.FixedZone("NVR", 2*3600)
	at := func(s string) *time.Time {
		v, err := time.ParseInLocation("2006-01-02 15:04:05", s, loc)
		if err != nil {
			t.Fatal(err)
		}
		return &v
	}
	cases := []struct {
		name       string
		camera     string
		start, end *time.Time
		part       int
		ok         bool
	}{
		{"ch01_20240501123456_20240501124500.mp4", "ch01", at("2024-05-01 12:34:56"), at("2024-05-01 12:45:00"), 0, true},
		{"CH02-2024-05-01_12-00-00-2024-05-01_13-00-00_part2.ts", "CH02", at("2024-05-01 12:00:00"), at("2024-05-01 13:00:00"), 2, true},
		{"2024-05-01.12.00.00-2024-05-01.13.00.00[M][0@0][0].dav", "", at("2024-05-01 12:00:00"), at("2024-05-01 13:00:00"), 0, true},
		{"Camera 3_20240501_080000(2).h264", "Camera 3", at("2024-05-01 08:00:00"), nil, 2, true},
		{"D4_20240501080000_001.265", "D4", at("2024-05-01 08:00:00"), nil, 1, true},
		{"cam12 2024-05-01T23:59:59.264", "cam12", at("2024-05-01 23:59:59"), nil, 0, true},
		// An impossible date is no time; the camera still counts.
		{"ch01_20240231120000.mp4", "ch01", nil, nil, 0, true},
		// An end before the start is not a span.
		{"ch01_20240501130000_20240501120000.mp4", "ch01", at("2024-05-01 13:00:00"), nil, 0, true},
		{"recording.mp4", "", nil, nil, 0, false},
		{"patch01.mp4", "", nil, nil, 0, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, ok := ParseNVRFileName(c.name, loc)
			eq := func(a, b *time.Time) bool { return (a == nil) == (b == nil) && (a == nil || a.Equal(*b)) }
			if ok != c.ok || f.Camera != c.camera || !eq(f.Start, c.start) || !eq(f.End, c.end) || f.Part != c.part {
				t.Fatalf("got %+v %v (start %v end %v)", f, ok, f.Start, f.End)
			}
		})
	}
}

func TestParseChecksumList(t *testing.T) {
	list := "\ufeff# exported by NVR\r\n" +
		"d41d8cd98f00b204e9800998ecf8427e  ch01_20240501123456.mp4\r\n" +
		"DA39A3EE5E6B4B0D3255BFEF95601890AFD80709 *sub\\ch02.ts\n" +
		"MD5 (ch03 file.h264) = 0cc175b9c0f1b6a831c399e269772661\n" +
		"SHA256 (ch04.265) = e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n" +
		"not a checksum line\n" +
		"zz41d8cd98f00b204e9800998ecf8427e  bad-hex.mp4\n"
	m, err := ParseChecksumList([]byte(list))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]ExportChecksum{
		"ch01_20240501123456.mp4": {Algorithm: "md5", Value: "d41d8cd98f00b204e9800998ecf8427e"},
		"ch02.ts":                 {Algorithm: "sha1", Value: "da39a3ee5e6b4b0d3255bfef95601890afd80709"},
		"ch03 file.h264":          {Algorithm: "md5", Value: "0cc175b9c0f1b6a831c399e269772661"},
		"ch04.265":                {Algorithm: "sha256", Value: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
	}
	if len(m) != len(want) {
		t.Fatalf("%d entries: %+v", len(m), m)
	}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s: %+v, want %+v", k, m[k], v)
		}
	}
	for _, bad := range []string{"", "hello\nworld\n", "MD5 (x) = 1234\n"} {
		if _, err := ParseChecksumList([]byte(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// TestResolveMetadataNVRExport: files of an NVR export folder keep their
// own identity (each is an item), get camera and recorded-at from the file
// name or the container, and carry the export's checksum of their bytes
// with whether it matches.
func TestResolveMetadataNVRExport(t *testing.T) {
	root := t.TempDir()
	export := filepath.Join(root, "export-2024-05-01")
	ch1 := filepath.Join(export, "CH01")
	if err := os.MkdirAll(ch1, 0o755); err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(ch1, "ch01_20240501123456_20240501124500.h264")
	damaged := filepath.Join(ch1, "ch01_20240501124500_20240501125500.h264")
	noName := filepath.Join(ch1, "000001.ts")
	mp4 := filepath.Join(export, "ch02_20240501000000.mp4")
	for p, b := range map[string]string{good: "frames of a good export", damaged: "bytes changed on the stick", noName: "ts bytes"} {
		if err := os.WriteFile(p, []byte(b), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	mp4Bytes, err := os.ReadFile("testdata/moov-first.mp4")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(mp4, mp4Bytes, 0o644); err != nil {
		t.Fatal(err)
	}
	sum := md5.Sum([]byte("frames of a good export"))
	goodSum := hex.EncodeToString(sum[:])
	wrong := md5.Sum([]byte("what the NVR wrote"))
	list := goodSum + "  CH01/" + filepath.Base(good) + "\n" + hex.EncodeToString(wrong[:]) + "  CH01/" + filepath.Base(damaged) + "\n"
	if err := os.WriteFile(filepath.Join(export, "checksum.md5"), []byte(list), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := ParseConfig([]byte("server: https://dems.example\ntoken: x\nstate_dir: /var/lib/dock\nafter_receipt: delete\nquarantine_dir: /var/lib/dock-q\n" +
		"watch:\n  - path: " + root + "\n    nvr_export: true\n    time_zone: Europe/Berlin\n    defaults: {camera_name: nvr, location: Depot}\n"))
	if err != nil {
		t.Fatal(err)
	}
	wd := cfg.Watch[0]
	if !matches(wd.Include, "x.H264") || !matches(wd.Include, "x.265") || !matches(wd.Include, "x.dav") {
		t.Fatalf("nvr include %v", wd.Include)
	}
	type extra struct {
		NVR nvrExport `json:"nvr_export"`
	}
	resolve := func(p string) (time.Time, string, string, extra) {
		t.Helper()
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		m, err := ResolveMetadata(Candidate{Path: p, Root: wd, Size: st.Size(), Sidecar: sidecarFor(p)}, Defaults{})
		if err != nil {
			t.Fatal(err)
		}
		var x extra
		if err := json.Unmarshal(m.Extra, &x); err != nil {
			t.Fatalf("extra %s: %v", m.Extra, err)
		}
		var at time.Time
		if m.RecordedAt != nil {
			at = *m.RecordedAt
		}
		if m.SourceKind != "cctv" || m.Location != "Depot" {
			t.Errorf("%s: %+v", p, m)
		}
		return at, m.CameraName, m.SourceKind, x
	}

	at, camera, _, x := resolve(good)
	// 12:34:56 in Berlin in May (CEST, UTC+2) is 10:34:56 UTC.
	if !at.Equal(time.Date(2024, 5, 1, 10, 34, 56, 0, time.UTC)) || camera != "ch01" {
		t.Errorf("good: recorded %v camera %q", at, camera)
	}
	n := x.NVR
	if n.Export != "export-2024-05-01" || n.Folder != "export-2024-05-01/CH01" || n.Start != "2024-05-01T12:34:56" ||
		n.End != "2024-05-01T12:45:00" || n.TimeZone != "Europe/Berlin" || n.Group != "export-2024-05-01/ch01" ||
		n.Checksum == nil || *n.Checksum != (ExportChecksum{Algorithm: "md5", Value: goodSum, ListedIn: "checksum.md5", Matches: true}) {
		t.Errorf("good: %+v checksum %+v", n, n.Checksum)
	}
	if _, _, _, x := resolve(damaged); x.NVR.Checksum == nil || x.NVR.Checksum.Matches {
		t.Errorf("damaged: checksum %+v", x.NVR.Checksum)
	}
	// No time in the name, camera from the folder; no checksum listed.
	if at, camera, _, x := resolve(noName); !at.IsZero() || camera != "CH01" || x.NVR.Checksum != nil || x.NVR.Group != "export-2024-05-01/CH01" {
		t.Errorf("unnamed: %v %q %+v", at, camera, x.NVR)
	}
	// The container's creation time wins over the name.
	if at, camera, _, _ := resolve(mp4); !at.Equal(time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)) || camera != "ch02" {
		t.Errorf("mp4: %v %q", at, camera)
	}
	// A sidecar's camera and time win over both.
	if err := os.WriteFile(good+".json", []byte(`{"camera_name":"Lobby east","recorded_at":"2024-05-01T10:00:00Z","firmware":"v5"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	at, camera, _, x = resolve(good)
	if !at.Equal(time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)) || camera != "Lobby east" || x.NVR.Camera != "ch01" {
		t.Errorf("sidecar: %v %q %+v", at, camera, x.NVR)
	}

	if _, err := ParseConfig([]byte("server: https://dems.example\ntoken: x\nstate_dir: /var/lib/dock\nafter_receipt: delete\nquarantine_dir: /var/lib/dock-q\n" +
		"watch:\n  - path: " + root + "\n    nvr_export: true\n    time_zone: Mars/Olympus\n")); err == nil || !strings.Contains(err.Error(), "time_zone") {
		t.Errorf("bad zone: %v", err)
	}
}
