package jobs

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/asticode/go-astiav"
	"github.com/google/uuid"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/opendems/opendems/evidence/pg/pgtest"
	"github.com/opendems/opendems/storage"
	"github.com/opendems/opendems/storage/fs"
	"github.com/opendems/opendems/transcode"
)

func TestMain(m *testing.M) {
	astiav.SetLogLevel(astiav.LogLevelQuiet)
	os.Exit(m.Run())
}

// jobBundle is one test's database, object store, worker and unit.
type jobBundle struct {
	db    *pgtest.DB
	store storage.Store
	w     *TranscodeWorker
	unit  uuid.UUID
	dir   string
}

func newJobBundle(t *testing.T) *jobBundle {
	t.Helper()
	db := pgtest.NewDB(t)
	store, err := fs.New(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	b := &jobBundle{db: db, store: store, dir: t.TempDir(),
		w: &TranscodeWorker{Pool: db.Pool, Storage: store, TempDir: t.TempDir(), Proxy: transcode.ProxyOptions{Preset: "ultrafast", Threads: 1}}}
	if err := db.Pool.QueryRow(context.Background(), `INSERT INTO units (slug, name, path) VALUES ('cctv', 'CCTV', 'cctv') RETURNING id`).Scan(&b.unit); err != nil {
		t.Fatal(err)
	}
	return b
}

// ffmpegCLI makes a test file with the ffmpeg CLI (an independent tool).
func ffmpegCLI(t *testing.T, args ...string) {
	t.Helper()
	cmd := exec.Command("ffmpeg", append([]string{"-hide_banner", "-loglevel", "error", "-y"}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("ffmpeg %v: %v\n%s", args, err, stderr.String())
	}
}

// ingest stores content as an original and inserts its item.
func (b *jobBundle) ingest(t *testing.T, filename string, content []byte) (uuid.UUID, storage.Digest) {
	t.Helper()
	ctx := context.Background()
	d := storage.Digest(sha256.Sum256(content))
	if _, err := b.store.Put(ctx, storage.Ref{Namespace: storage.Originals, Digest: d}, int64(len(content)), bytes.NewReader(content), storage.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	var id uuid.UUID
	if err := b.db.Pool.QueryRow(ctx, `INSERT INTO evidence_items (sha256, size, unit_id, filename) VALUES ($1, $2, $3, $4) RETURNING id`,
		d[:], len(content), b.unit, filename).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id, d
}

func (b *jobBundle) run(t *testing.T, id uuid.UUID, attempt int, outputs ...string) error {
	t.Helper()
	job := &river.Job[TranscodeArgs]{JobRow: &rivertype.JobRow{ID: 1, Attempt: attempt, MaxAttempts: TranscodeMaxAttempts},
		Args: TranscodeArgs{EvidenceID: id, Outputs: outputs}}
	return b.w.Work(context.Background(), job)
}

type itemMeta struct {
	Probe struct {
		Duration       float64 `json:"duration"`
		DurationSource string  `json:"duration_source"`
	} `json:"probe"`
	Outputs   map[string]OutputState `json:"outputs"`
	Recording struct {
		Status          string  `json:"status"`
		DecodedDuration float64 `json:"decoded_duration"`
	} `json:"recording"`
}

func (b *jobBundle) item(t *testing.T, id uuid.UUID) (string, string, itemMeta) {
	t.Helper()
	var status, msg string
	var raw []byte
	if err := b.db.Pool.QueryRow(context.Background(), `SELECT proxy_status, proxy_error, metadata FROM evidence_items WHERE id = $1`, id).Scan(&status, &msg, &raw); err != nil {
		t.Fatal(err)
	}
	var m itemMeta
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return status, msg, m
}

// derivatives maps kind → (row id, details).
func (b *jobBundle) derivatives(t *testing.T, id uuid.UUID) map[string]string {
	t.Helper()
	rows, err := b.db.Pool.Query(context.Background(), `SELECT kind, id::text FROM evidence_derivatives WHERE evidence_id = $1`, id)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var k, rid string
		if err := rows.Scan(&k, &rid); err != nil {
			t.Fatal(err)
		}
		if _, dup := out[k]; dup {
			t.Fatalf("two %s derivatives", k)
		}
		out[k] = rid
	}
	return out
}

// TestTranscodeJobCCTV: raw elementary streams and MPEG-TS get all three
// outputs with a derived duration; a cut-short file is marked partial in
// its metadata and custody, its sprite has no invented tiles and its
// original is untouched.
func TestTranscodeJobCCTV(t *testing.T) {
	t.Parallel()
	src := []string{"-f", "lavfi", "-i", "testsrc2=size=320x240:rate=12.5:duration=4"}
	enc := []string{"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"}
	cases := []struct {
		name    string
		args    []string
		cut     bool
		source  string
		partial bool
		method  string // how the proxy is made: NVR streams are encoded, a browser-ready MP4 remuxed
	}{
		{"cam1.h264", append(append([]string{}, enc...), "-f", "h264"), false, transcode.DurationFromFrameCount, false, transcode.ProxyEncoded},
		{"cam2.ts", append(append([]string{}, enc...), "-f", "mpegts"), false, transcode.DurationFromContainer, false, transcode.ProxyEncoded},
		{"bwc.mp4", append(append([]string{}, enc...), "-g", "12", "-movflags", "+faststart", "-f", "mp4"), true, transcode.DurationFromContainer, true, transcode.ProxyRemuxed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := newJobBundle(t)
			path := filepath.Join(b.dir, tc.name)
			ffmpegCLI(t, append(append(append([]string{}, src...), tc.args...), path)...)
			content, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if tc.cut {
				content = content[:len(content)/2]
			}
			id, digest := b.ingest(t, tc.name, content)
			if err := b.run(t, id, 1); err != nil {
				t.Fatal(err)
			}
			status, msg, m := b.item(t, id)
			if status != ProxyReady || msg != "" {
				t.Fatalf("proxy %s %q", status, msg)
			}
			if m.Probe.Duration < 3.9 || m.Probe.Duration > 4.1 || m.Probe.DurationSource != tc.source {
				t.Errorf("probe duration %v (%s)", m.Probe.Duration, m.Probe.DurationSource)
			}
			for _, k := range []string{KindProxy, KindPoster, KindSprite} {
				if st := m.Outputs[k]; st.Status != OutputReady || st.Attempts != 1 {
					t.Errorf("output %s: %+v", k, st)
				}
			}
			if got := m.Outputs[KindProxy].Method; got != tc.method {
				t.Errorf("proxy made by %q (%s), want %q", got, m.Outputs[KindProxy].NotRemuxed, tc.method)
			}
			if d := b.derivatives(t, id); len(d) != 3 {
				t.Errorf("derivatives %v", d)
			}
			wantRec := RecordingComplete
			if tc.partial {
				wantRec = RecordingPartial
			}
			if m.Recording.Status != wantRec {
				t.Errorf("recording %+v, want %s", m.Recording, wantRec)
			}
			var events int
			if err := b.db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM custody_events WHERE evidence_id = $1
				AND action = 'metadata_changed' AND details::jsonb->>'field' = 'recording' AND details::jsonb->>'new' = 'partial'`, id).Scan(&events); err != nil {
				t.Fatal(err)
			}
			if (events == 1) != tc.partial || events > 1 {
				t.Errorf("%d partial-recording custody events", events)
			}
			var sprite struct {
				Sprite transcode.SpriteResult `json:"sprite"`
			}
			var details []byte
			if err := b.db.Pool.QueryRow(context.Background(), `SELECT details FROM evidence_derivatives WHERE evidence_id = $1 AND kind = $2`, id, KindSprite).Scan(&details); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(details, &sprite); err != nil {
				t.Fatal(err)
			}
			if (sprite.Sprite.Missing > 0) != tc.partial {
				t.Errorf("sprite: %d tiles, %d missing", len(sprite.Sprite.Tiles), sprite.Sprite.Missing)
			}
			for _, tl := range sprite.Sprite.Tiles {
				if tl.Time > m.Recording.DecodedDuration+1e-6 {
					t.Errorf("tile %+v past the decoded end %.3f", tl, m.Recording.DecodedDuration)
				}
			}
			// The original is as received: same bytes, same hash.
			rc, err := b.store.Open(context.Background(), storage.Ref{Namespace: storage.Originals, Digest: digest}, 0, -1)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(rc)
			rc.Close()
			if err != nil || !bytes.Equal(got, content) {
				t.Fatalf("original changed (%v)", err)
			}
			// A second run finds every output made and makes nothing.
			before := b.derivatives(t, id)
			if err := b.run(t, id, 1); err != nil {
				t.Fatal(err)
			}
			if after := b.derivatives(t, id); after[KindProxy] != before[KindProxy] || after[KindSprite] != before[KindSprite] {
				t.Errorf("a re-run remade outputs: %v → %v", before, after)
			}
		})
	}
}

// TestTranscodeJobOutputFailsAlone: a sprite that cannot be made (tile
// width out of range) fails on its own with its reason stored; the proxy
// and poster are ready and the item playable. Retrying just the sprite
// (TranscodeArgs.Outputs) leaves the others untouched.
func TestTranscodeJobOutputFailsAlone(t *testing.T) {
	t.Parallel()
	b := newJobBundle(t)
	path := filepath.Join(b.dir, "src.ts")
	ffmpegCLI(t, "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=2",
		"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-f", "mpegts", path)
	content, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := b.ingest(t, "NVR export ch01.ts", content)
	b.w.Sprite = transcode.SpriteOptions{TileWidth: 5000}
	if err := b.run(t, id, 1); err != nil {
		t.Fatalf("a failed sprite failed the job: %v", err)
	}
	status, _, m := b.item(t, id)
	if status != ProxyReady || m.Outputs[KindProxy].Status != OutputReady || m.Outputs[KindPoster].Status != OutputReady {
		t.Fatalf("proxy %s, outputs %+v", status, m.Outputs)
	}
	sp := m.Outputs[KindSprite]
	if sp.Status != OutputFailed || !strings.HasPrefix(sp.Error, `sprite "NVR export ch01.ts": invalid options`) {
		t.Fatalf("sprite %+v", sp)
	}
	before := b.derivatives(t, id)
	if _, ok := before[KindSprite]; ok || len(before) != 2 {
		t.Fatalf("derivatives %v", before)
	}

	b.w.Sprite = transcode.SpriteOptions{}
	if err := b.run(t, id, 1, KindSprite); err != nil {
		t.Fatal(err)
	}
	_, _, m = b.item(t, id)
	after := b.derivatives(t, id)
	if m.Outputs[KindSprite].Status != OutputReady || after[KindSprite] == "" ||
		after[KindProxy] != before[KindProxy] || after[KindPoster] != before[KindPoster] {
		t.Fatalf("retry of the sprite: outputs %+v, derivatives %v → %v", m.Outputs, before, after)
	}
}

// TestTranscodeJobZeroBytes: an empty original fails at once with one
// message naming the step and the file.
func TestTranscodeJobZeroBytes(t *testing.T) {
	t.Parallel()
	b := newJobBundle(t)
	id, _ := b.ingest(t, "cam3.mp4", nil)
	err := b.run(t, id, 1)
	var cancel *river.JobCancelError
	if !errors.As(err, &cancel) {
		t.Fatalf("err %v, want the job cancelled (no retry)", err)
	}
	status, msg, _ := b.item(t, id)
	want := NoProxyPrefix + `probe: open input "cam3.mp4": corrupt or unreadable media: not a media file (zero bytes)`
	if status != ProxyFailed || msg != want {
		t.Fatalf("proxy %s %q, want %q", status, msg, want)
	}
}

// flakyStore is the real file store with thumbnail writes failing while
// fail is set: a storage outage that hits the thumbnails after the proxy
// was stored.
type flakyStore struct {
	storage.Store
	fail bool
}

func (s *flakyStore) Put(ctx context.Context, ref storage.Ref, size int64, r io.Reader, opts storage.PutOptions) (storage.Object, error) {
	if s.fail && opts.ContentType == "image/jpeg" {
		return storage.Object{}, errors.New("storage unavailable (injected)")
	}
	return s.Store.Put(ctx, ref, size, r, opts)
}

// TestTranscodeJobRetriesOnlyMissingOutputs: when storing the thumbnails
// fails, the item is still playable (proxy ready), the job is retried, and
// the retry makes only the thumbnails; after the last attempt they are
// marked failed with the reason.
func TestTranscodeJobRetriesOnlyMissingOutputs(t *testing.T) {
	t.Parallel()
	b := newJobBundle(t)
	flaky := &flakyStore{Store: b.store, fail: true}
	b.w.Storage = flaky
	path := filepath.Join(b.dir, "cam.h264")
	ffmpegCLI(t, "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=12.5:duration=3",
		"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-f", "h264", path)
	content, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := b.ingest(t, "cam.h264", content)
	err = b.run(t, id, 1)
	var cancel *river.JobCancelError
	if err == nil || errors.As(err, &cancel) {
		t.Fatalf("attempt 1: %v, want an error river retries", err)
	}
	status, _, m := b.item(t, id)
	if status != ProxyReady || m.Outputs[KindProxy].Status != OutputReady ||
		m.Outputs[KindPoster].Status != OutputPending || !strings.Contains(m.Outputs[KindSprite].Error, "storage unavailable") {
		t.Fatalf("after attempt 1: proxy %s, outputs %+v", status, m.Outputs)
	}
	first := b.derivatives(t, id)
	if len(first) != 1 || first[KindProxy] == "" {
		t.Fatalf("derivatives after attempt 1: %v", first)
	}

	flaky.fail = false
	if err := b.run(t, id, 2); err != nil {
		t.Fatal(err)
	}
	status, _, m = b.item(t, id)
	after := b.derivatives(t, id)
	if status != ProxyReady || len(after) != 3 || after[KindProxy] != first[KindProxy] ||
		m.Outputs[KindPoster].Status != OutputReady || m.Outputs[KindPoster].Attempts != 2 || m.Outputs[KindProxy].Attempts != 1 {
		t.Fatalf("after attempt 2: proxy %s, outputs %+v, derivatives %v", status, m.Outputs, after)
	}

	// A storage outage through the last attempt: the outputs say so.
	id2, _ := b.ingest(t, "cam2.h264", append(content, 0, 0, 0, 1, 9, 16))
	flaky.fail = true
	if err := b.run(t, id2, TranscodeMaxAttempts); err == nil {
		t.Fatal("no error")
	}
	status, _, m = b.item(t, id2)
	if status != ProxyReady || m.Outputs[KindSprite].Status != OutputFailed || !strings.HasPrefix(m.Outputs[KindSprite].Error, "gave up after 5 attempts") {
		t.Fatalf("last attempt: proxy %s, outputs %+v", status, m.Outputs)
	}
}
