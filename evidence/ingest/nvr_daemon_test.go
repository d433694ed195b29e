package ingest_test

import (
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/opendems/opendems/evidence/dock"
)

// An NVR export folder (two cameras, a camera split into parts, a checksum
// list with one wrong entry) goes through the dock's watch folder: one item
// per file, each with its own SHA-256, camera and recorded-at from the file
// names, and the export's checksum of each file with whether it matched.
func TestDaemonImportsNVRExport(t *testing.T) {
	e := newEnv(t, "fs")
	s := newDockSetup(t, e)
	s.cfg.Watch[0].NVRExport = true
	s.cfg.Watch[0].TimeZone = "America/New_York"
	s.cfg.Watch[0].Include = nil // the NVR defaults: *.ts, *.h264…
	s.cfg = s.cfg.WithDefaults()
	if err := s.cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	export := filepath.Join(s.cam, "Export_20240501")
	for _, d := range []string{"CH01", "CH02"} {
		if err := os.MkdirAll(filepath.Join(export, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	files := []string{
		writeRandom(t, filepath.Join(export, "CH01"), "ch01_20240501080000_20240501081500_part1.ts", testChunk+11),
		writeRandom(t, filepath.Join(export, "CH01"), "ch01_20240501080000_20240501081500_part2.ts", 5000),
		writeRandom(t, filepath.Join(export, "CH02"), "ch02_20240501080500_20240501081000.h264", 7000),
	}
	sums := map[string]string{}
	list := ""
	for i, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		m := md5.Sum(b)
		if i == 2 {
			m = md5.Sum([]byte("what the NVR said it wrote"))
		}
		rel, _ := filepath.Rel(export, p)
		list += hex.EncodeToString(m[:]) + " *" + rel + "\n"
		sums[p] = sha256File(t, p)
	}
	if err := os.WriteFile(filepath.Join(export, "MD5SUMS"), []byte(list), 0o644); err != nil {
		t.Fatal(err)
	}
	stop := s.start(t, e)
	defer stop()
	for _, p := range files {
		waitFor(t, "release of "+filepath.Base(p), func() bool { return s.finalState(p) == dock.StateReleased })
	}
	if n := e.count(t, `SELECT count(*) FROM evidence_items`); n != len(files) {
		t.Fatalf("%d items for %d files", n, len(files))
	}
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]struct {
		camera  string
		at      time.Time
		part    int
		matches bool
	}{
		files[0]: {"ch01", time.Date(2024, 5, 1, 8, 0, 0, 0, ny), 1, true},
		files[1]: {"ch01", time.Date(2024, 5, 1, 8, 0, 0, 0, ny), 2, true},
		files[2]: {"ch02", time.Date(2024, 5, 1, 8, 5, 0, 0, ny), 0, false},
	}
	for p, w := range want {
		var camera, source string
		var at time.Time
		var meta []byte
		if err := e.db.Pool.QueryRow(t.Context(), `SELECT camera_name, source_kind, recorded_at, metadata FROM evidence_items WHERE encode(sha256,'hex') = $1`,
			sums[p]).Scan(&camera, &source, &at, &meta); err != nil {
			t.Fatalf("%s: %v", filepath.Base(p), err)
		}
		var m struct {
			Extra struct {
				NVR struct {
					Export, Camera, Group, Start, End string
					Part                              int
					Checksum                          *dock.ExportChecksum
				} `json:"nvr_export"`
			} `json:"extra"`
		}
		if err := json.Unmarshal(meta, &m); err != nil {
			t.Fatal(err)
		}
		n := m.Extra.NVR
		if camera != w.camera || source != "cctv" || !at.Equal(w.at) || n.Export != "Export_20240501" || n.Part != w.part ||
			n.Group != "Export_20240501/"+w.camera || n.Checksum == nil || n.Checksum.Matches != w.matches || n.Checksum.ListedIn != "MD5SUMS" {
			t.Errorf("%s: camera %q source %q at %v, nvr_export %+v checksum %+v", filepath.Base(p), camera, source, at, n, n.Checksum)
		}
	}
}
