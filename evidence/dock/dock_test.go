package dock

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opendems/opendems/evidence/ingest/receipt"
)

func TestParseConfig(t *testing.T) {
	good := `
server: https://dems.example.org
token_file: /etc/dems-dock/token
state_dir: /var/lib/dems-dock
watch:
  - path: /mnt/cam1
    defaults: {source_kind: bwc, device_id: cam-1}
  - path: /srv/nvr-export
    include: ["*.mp4"]
    defaults: {source_kind: cctv, location: Lobby}
released_dir: /var/lib/dems-dock/released
quarantine_dir: /var/lib/dems-dock/quarantine
bandwidth: 20MiB/s
stable_for: 45s
`
	c, err := ParseConfig([]byte(good))
	if err != nil {
		t.Fatalf("good config: %v", err)
	}
	if c.StableFor != 45*time.Second || c.Concurrency != 2 || c.AfterReceipt != "move" || len(c.Watch[0].Include) == 0 {
		t.Errorf("defaults not applied: %+v", c)
	}
	tests := []struct {
		name, replace, with, field string
	}{
		{"no server", "server: https://dems.example.org", "", "server"},
		{"bad server", "https://dems.example.org", "ftp://x", "server"},
		{"no token", "token_file: /etc/dems-dock/token", "", "token"},
		{"relative watch", "/mnt/cam1", "cam1", "watch[0].path"},
		{"bad source", "source_kind: cctv", "source_kind: drone", "watch[1].defaults.source_kind"},
		{"bad pattern", `["*.mp4"]`, `["[x"]`, "watch[1].include[0]"},
		{"released is watched", "released_dir: /var/lib/dems-dock/released", "released_dir: /mnt/cam1", "released_dir"},
		{"no quarantine", "quarantine_dir: /var/lib/dems-dock/quarantine", "", "quarantine_dir"},
		{"bad bandwidth", "20MiB/s", "fast", "bandwidth"},
		{"bad after_receipt", "bandwidth:", "after_receipt: shred\nbandwidth:", "after_receipt"},
		{"unknown key", "stable_for: 45s", "stable_for: 45s\nstabel_for: 1s", "stabel_for"},
		{"negative concurrency", "stable_for: 45s", "stable_for: 45s\nconcurrency: -1", "concurrency"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(strings.Replace(good, tc.replace, tc.with, 1)))
			if err == nil || !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("error %v, want one naming %s", err, tc.field)
			}
		})
	}
}

func TestParseRate(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		bad  bool
	}{
		{"", 0, false}, {"0", 0, false}, {"20MiB/s", 20 << 20, false}, {"500kB/s", 500000, false},
		{"8Mbit/s", 1000000, false}, {"4096", 4096, false}, {"1.5MB", 1500000, false},
		{"10", 0, true}, {"fast", 0, true}, {"1e18GB", 0, true}, {"5 parsecs", 0, true}, {"-1MB", 0, true},
	}
	for _, tc := range tests {
		got, err := ParseRate(tc.in)
		if (err != nil) != tc.bad || got != tc.want {
			t.Errorf("ParseRate(%q) = %d, %v", tc.in, got, err)
		}
	}
}

func TestJournalLifecycle(t *testing.T) {
	j, err := OpenJournal(filepath.Join(t.TempDir(), "j.db"), false, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	cam := t.TempDir()
	e := Entry{Path: filepath.Join(cam, "a.mp4"), Root: cam, Size: 10}
	if err := os.WriteFile(e.Path, make([]byte, 10), 0o644); err != nil {
		t.Fatal(err)
	}
	if added, err := j.Add(e); err != nil || !added {
		t.Fatalf("add: %v %v", added, err)
	}
	if added, _ := j.Add(e); added {
		t.Error("same path added twice")
	}
	if _, err := j.Update(e.Path, func(x *Entry) error { x.State, x.Offset = StateUploading, 5; return nil }); err != nil {
		t.Fatal(err)
	}
	got, err := j.Get(e.Path)
	if err != nil || got.State != StateUploading || got.Offset != 5 {
		t.Fatalf("get: %+v %v", got, err)
	}
	if _, err := j.Update(e.Path, func(x *Entry) error { x.State = StateReleased; return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := j.Get(e.Path); !errors.Is(err, ErrNoEntry) {
		t.Errorf("released entry still queued: %v", err)
	}
	// A scan that listed the file just before it was released must not
	// queue it again once it is gone (it would end as "vanished").
	if err := os.Remove(e.Path); err != nil {
		t.Fatal(err)
	}
	if added, err := j.Add(e); err != nil || added {
		t.Errorf("released, removed file queued again: %v %v", added, err)
	}
	h, _ := j.History(10)
	if len(h) != 1 || h[0].State != StateReleased {
		t.Errorf("history: %+v", h)
	}
	// The same name again (cameras reuse names) is a new entry.
	if err := os.WriteFile(e.Path, make([]byte, 10), 0o644); err != nil {
		t.Fatal(err)
	}
	if added, _ := j.Add(e); !added {
		t.Error("a new file under a released name was not queued")
	}
}

func TestWatcherStability(t *testing.T) {
	dir := t.TempDir()
	w := &Watcher{Dirs: []WatchDir{{Path: dir, Include: defaultInclude()}}, StableFor: time.Minute, Skip: []string{filepath.Join(dir, "released")}}
	p := filepath.Join(dir, "DCIM", "a.MP4")
	os.MkdirAll(filepath.Dir(p), 0o755)
	os.WriteFile(p, []byte("abc"), 0o644)
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("x"), 0o644)
	os.MkdirAll(filepath.Join(dir, "released"), 0o755)
	os.WriteFile(filepath.Join(dir, "released", "old.mp4"), []byte("x"), 0o644)
	t0 := time.Now()
	if c, _ := w.Scan(t0); len(c) != 0 {
		t.Fatalf("fresh file complete at once: %+v", c)
	}
	if c, _ := w.Scan(t0.Add(2 * time.Minute)); len(c) != 1 || c[0].Path != p {
		t.Fatalf("stable file not complete: %+v", c)
	}
	// Growing again resets the clock.
	os.WriteFile(p, []byte("abcd"), 0o644)
	if c, _ := w.Scan(t0.Add(3 * time.Minute)); len(c) != 0 {
		t.Fatalf("changed file complete at once: %+v", c)
	}
	// A sidecar makes it complete immediately.
	q := filepath.Join(dir, "b.mp4")
	os.WriteFile(q, []byte("x"), 0o644)
	os.WriteFile(filepath.Join(dir, "b.json"), []byte(`{}`), 0o644)
	c, _ := w.Scan(t0.Add(3 * time.Minute))
	if len(c) != 1 || c[0].Path != q || c[0].Sidecar == "" {
		t.Fatalf("sidecar file: %+v", c)
	}
}

func TestResolveMetadata(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "clip.mp4")
	b, _ := os.ReadFile("testdata/moov-first.mp4")
	os.WriteFile(p, b, 0o644)
	root := WatchDir{Path: dir, Defaults: Defaults{SourceKind: "cctv", CameraName: "lobby"}}
	global := Defaults{OfficerID: "none", Location: "HQ"}
	m, err := ResolveMetadata(Candidate{Path: p, Root: root, Size: int64(len(b))}, global)
	if err != nil {
		t.Fatal(err)
	}
	if m.SourceKind != "cctv" || m.CameraName != "lobby" || m.Location != "HQ" || m.OfficerID != "none" ||
		m.RecordedAt == nil || !m.RecordedAt.Equal(time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)) {
		t.Errorf("without sidecar: %+v", m)
	}
	side := filepath.Join(dir, "clip.mp4.json")
	os.WriteFile(side, []byte(`{"officer_id":"b42","source":"bwc","recorded_at":"2023-01-01T00:00:00Z","gps":[{"t":"2023-01-01T00:00:00Z","lat":1,"lon":2}],"firmware":"1.2"}`), 0o644)
	m, err = ResolveMetadata(Candidate{Path: p, Root: root, Size: int64(len(b)), Sidecar: side}, global)
	if err != nil {
		t.Fatal(err)
	}
	if m.OfficerID != "b42" || m.SourceKind != "bwc" || !m.RecordedAt.Equal(time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC)) ||
		len(m.GPS) != 1 || string(m.Extra) != `{"firmware":"1.2"}` || m.CameraName != "lobby" {
		t.Errorf("with sidecar: %+v extra %s", m, m.Extra)
	}
	os.WriteFile(side, []byte(`{"gps":[{"lat":500,"lon":0,"t":"2023-01-01T00:00:00Z"}]}`), 0o644)
	if _, err := ResolveMetadata(Candidate{Path: p, Root: root, Size: int64(len(b)), Sidecar: side}, global); err == nil || !strings.Contains(err.Error(), "gps[0].lat") {
		t.Errorf("bad sidecar: %v", err)
	}
}

func TestPinKey(t *testing.T) {
	dir := t.TempDir()
	pub1, _, _ := ed25519.GenerateKey(rand.Reader)
	pub2, _, _ := ed25519.GenerateKey(rand.Reader)
	if _, err := LoadPinnedKey(dir); err == nil {
		t.Fatal("loaded a key that was never pinned")
	}
	if err := PinKey(dir, receipt.NewPublicKey(pub1), false); err != nil {
		t.Fatal(err)
	}
	if err := PinKey(dir, receipt.NewPublicKey(pub1), false); err != nil {
		t.Fatalf("re-pinning the same key: %v", err)
	}
	if err := PinKey(dir, receipt.NewPublicKey(pub2), false); !errors.Is(err, ErrKeyChanged) {
		t.Fatalf("pinning another key: %v", err)
	}
	got, err := LoadPinnedKey(dir)
	if err != nil || !got.Equal(pub1) {
		t.Fatalf("pinned key changed: %v", err)
	}
	if err := PinKey(dir, receipt.NewPublicKey(pub2), true); err != nil {
		t.Fatal(err)
	}
}

func TestRateLimiterPaces(t *testing.T) {
	// No timing assertion: the limiter's debt must make a caller wait,
	// which a cancelled context reveals.
	l := NewRateLimiter(64 << 10)
	ctx, cancel := contextWithCancel()
	cancel()
	if err := l.WaitN(ctx, 64<<10); err != nil {
		t.Fatalf("burst refused: %v", err)
	}
	if err := l.WaitN(ctx, 1<<20); err == nil {
		t.Fatal("a megabyte over a 64 KiB/s limit did not wait")
	}
	if NewRateLimiter(0) != nil {
		t.Error("unlimited limiter is not nil")
	}
}

// The configuration shown in docs/ingest.md parses and validates.
func TestDocumentedConfig(t *testing.T) {
	b, err := os.ReadFile("../../docs/ingest.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "```yaml\n")
	block, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("no yaml block in docs/ingest.md")
	}
	c, err := ParseConfig([]byte(block))
	if err != nil {
		t.Fatalf("documented config: %v", err)
	}
	if len(c.Watch) != 3 || c.Watch[1].Defaults.SourceKind != "cctv" || !c.Watch[2].NVRExport || c.Watch[2].TimeZone != "Europe/London" {
		t.Errorf("documented config read as %+v", c)
	}
}
