package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/riverqueue/river"
	"gopkg.in/yaml.v3"

	"github.com/opendems/opendems/evidence/ingest/wire"
	"github.com/opendems/opendems/evidence/jobs"
)

// scrape reads /metrics over HTTP and parses the text exposition.
func scrape(t *testing.T, base string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET /metrics: %d", resp.StatusCode)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return fams
}

// metricValue sums the family's samples whose labels include want (a
// histogram contributes its sample count).
func metricValue(fams map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	f, ok := fams[name]
	if !ok {
		return 0, false
	}
	var sum float64
	found := false
next:
	for _, m := range f.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if labels[k] != v {
				continue next
			}
		}
		found = true
		switch {
		case m.Counter != nil:
			sum += m.Counter.GetValue()
		case m.Gauge != nil:
			sum += m.Gauge.GetValue()
		case m.Histogram != nil:
			sum += float64(m.Histogram.GetSampleCount())
		case m.Untyped != nil:
			sum += m.Untyped.GetValue()
		}
	}
	return sum, found
}

// uploadOverHTTP runs the ingest protocol by hand against the server:
// create a session, send the file as one chunk, commit. chunkSum, when not
// nil, is sent instead of the chunk's real hash (a corrupted chunk).
func uploadOverHTTP(t *testing.T, base, token string, data []byte, chunkSum []byte, commit bool) (status int, body map[string]any) {
	t.Helper()
	return uploadSession(t, base, token, data, nil, chunkSum, commit)
}

// uploadSession is uploadOverHTTP declaring the file's sha256 as declared
// (nil: its real one); the one chunk is sent with its real hash unless
// chunkSum is set.
func uploadSession(t *testing.T, base, token string, data, declared, chunkSum []byte, commit bool) (status int, body map[string]any) {
	t.Helper()
	real := sha256.Sum256(data)
	sum := real
	if declared != nil {
		copy(sum[:], declared)
	}
	do := func(method, path string, hdr map[string]string, b []byte) (int, map[string]any) {
		req, _ := http.NewRequest(method, base+path, bytes.NewReader(b))
		req.Header.Set("Authorization", "Bearer "+token)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		var m map[string]any
		json.Unmarshal(raw, &m)
		return resp.StatusCode, m
	}
	cr, _ := json.Marshal(wire.CreateRequest{SHA256: hex.EncodeToString(sum[:]), Size: int64(len(data)), Filename: "clip.mp4",
		ContentType: "video/mp4", Metadata: wire.Metadata{OfficerID: "N1001", DeviceID: "CAM-9"}})
	st, m := do("POST", wire.PathSessions, map[string]string{"Content-Type": "application/json"}, cr)
	if st != 200 && st != 201 {
		t.Fatalf("create session: %d %v", st, m)
	}
	id, _ := m["session_id"].(string)
	if id == "" {
		t.Fatalf("create session: no id in %v", m)
	}
	cs := real[:] // one chunk: its hash is the file's
	if chunkSum != nil {
		cs = chunkSum
	}
	st, m = do("PUT", wire.PathSessions+"/"+id+"/chunks?offset=0", map[string]string{wire.HeaderChunkSHA256: hex.EncodeToString(cs)}, data)
	if st != 200 || !commit {
		return st, m
	}
	return do("POST", wire.PathSessions+"/"+id+"/commit", nil, nil)
}

// TestMetricsAfterUpload serves the whole server with workers over a real
// database, uploads a real clip over HTTP (plus one corrupted chunk), lets
// the jobs run (transcode, checkpoint, fixity, one that fails) and checks
// from GET /metrics that every family of issue 15 item 4 is present and
// moved. It then checks that docs/ops/alerts.yml and the Grafana dashboard
// only name metrics this server exposes.
func TestMetricsAfterUpload(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir, "fs")
	cfg.Workers.Concurrency = 2
	app, srv, creds := startTestServer(t, cfg, true)
	ctx := context.Background()
	clip := filepath.Join(dir, "clip.mp4")
	if err := MakeDemoClip(ctx, dir, clip, DemoClip{Seconds: 3, Width: 320, Height: 240, FPS: 15, Hue: 40}); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(clip)
	if err != nil {
		t.Fatal(err)
	}

	before := scrape(t, srv.URL)
	bytesBefore, _ := metricValue(before, "opendems_ingest_received_bytes_total", nil)

	// One real upload, and one chunk whose declared hash is wrong.
	if st, m := uploadOverHTTP(t, srv.URL, creds.Dock.Token, data, nil, true); st != 200 && st != 201 {
		t.Fatalf("commit: %d %v", st, m)
	}
	junk := make([]byte, 1000)
	rand.Read(junk)
	wrong := sha256.Sum256([]byte("not these bytes"))
	if st, m := uploadOverHTTP(t, srv.URL, creds.Dock.Token, junk, wrong[:], false); st < 400 || st >= 500 {
		t.Fatalf("corrupted chunk: %d %v, want a 4xx", st, m)
	}
	// And a file whose chunk is what was sent but not what was declared.
	if st, m := uploadSession(t, srv.URL, creds.Dock.Token, junk, wrong[:], nil, true); st < 400 || st >= 500 {
		t.Fatalf("file not matching its declared sha256: %d %v, want a 4xx", st, m)
	}
	var itemID uuid.UUID
	if err := app.Pool.QueryRow(ctx, `SELECT id FROM evidence_items WHERE sha256 = $1`, func() []byte { s := sha256.Sum256(data); return s[:] }()).Scan(&itemID); err != nil {
		t.Fatal(err)
	}
	// A supervisor reads it (an allow) and another unit's supervisor
	// tries (a deny).
	north := newCaller(t, srv.URL, credUser(creds, "supervisor", "north").APIToken)
	if st, _ := north.do("GET", "/api/v1/evidence/"+itemID.String(), ""); st != 200 {
		t.Fatalf("north reads its item: %d", st)
	}
	south := newCaller(t, srv.URL, credUser(creds, "supervisor", "south").APIToken)
	if st, _ := south.do("GET", "/api/v1/evidence/"+itemID.String(), ""); st != 404 {
		t.Fatalf("south reads north's item: %d", st)
	}

	// Jobs: a checkpoint and a fixity check after the upload; a fixity
	// check of an item that does not exist (fails); one job on a queue no
	// worker serves (stays available, so it has an age).
	missing := uuid.New()
	for _, ins := range []struct {
		args river.JobArgs
		opts *river.InsertOpts
	}{
		{jobs.CheckpointArgs{}, nil},
		{jobs.FixityArgs{EvidenceID: &itemID}, nil},
		{jobs.FixityArgs{EvidenceID: &missing}, &river.InsertOpts{MaxAttempts: 1}},
		{jobs.CheckpointArgs{}, &river.InsertOpts{Queue: "metrics_unserved"}},
	} {
		if _, err := app.River.Insert(ctx, ins.args, ins.opts); err != nil {
			t.Fatal(err)
		}
	}

	// Wait for the transcode, the checkpoint and both fixity jobs.
	deadline := time.Now().Add(3 * time.Minute)
	var fams map[string]*dto.MetricFamily
	for {
		fams = scrape(t, srv.URL)
		media, _ := metricValue(fams, "opendems_transcode_media_seconds_total", nil)
		fixity, _ := metricValue(fams, "opendems_job_run_seconds", map[string]string{"kind": "fixity"})
		failed, _ := metricValue(fams, "opendems_job_failures_total", map[string]string{"kind": "fixity"})
		cps, _ := metricValue(fams, "opendems_custody_checkpoints_signed_total", nil)
		if media > 0 && fixity >= 2 && failed >= 1 && cps >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("jobs did not finish: media %v s, fixity runs %v, fixity failures %v, checkpoints %v", media, fixity, failed, cps)
		}
		time.Sleep(300 * time.Millisecond)
	}

	// Every family is present and moved.
	checks := []struct {
		name  string
		label map[string]string
		min   float64
	}{
		{"opendems_ingest_received_bytes_total", nil, bytesBefore + float64(len(data)+len(junk))},
		{"opendems_ingest_commit_seconds", map[string]string{"outcome": "ok"}, 1},
		{"opendems_ingest_verification_failures_total", map[string]string{"check": "chunk_digest"}, 1},
		{"opendems_ingest_verification_failures_total", map[string]string{"check": "digest"}, 1},
		{"opendems_ingest_sessions_active", map[string]string{"state": "open"}, 1},
		{"opendems_jobs_queued", map[string]string{"kind": "custody_checkpoint", "state": "available"}, 1},
		{"opendems_jobs_oldest_age_seconds", map[string]string{"kind": "custody_checkpoint"}, 0.001},
		{"opendems_job_run_seconds", map[string]string{"kind": "transcode"}, 1},
		{"opendems_job_failures_total", map[string]string{"kind": "fixity"}, 1},
		{"opendems_transcode_media_seconds_total", nil, 2.5},
		{"opendems_transcode_frames_total", nil, 40}, // 3 s at 15 frame/s
		{"opendems_transcode_processing_seconds_total", nil, 0.001},
		{"opendems_custody_events", nil, 1},
		{"opendems_custody_checkpoints_signed_total", nil, 2},
		{"opendems_custody_checkpoint_last_signed_timestamp_seconds", nil, float64(time.Now().Add(-time.Hour).Unix())},
		{"opendems_fixity_checks_total", nil, 1},
		{"opendems_fixity_bytes_total", nil, float64(len(data))},
		{"opendems_policy_decisions_total", map[string]string{"outcome": "allow"}, 1},
		{"opendems_policy_decisions_total", map[string]string{"outcome": "deny"}, 1},
		{"opendems_policy_decision_seconds", nil, 2},
		{"opendems_http_requests_total", nil, 1},
	}
	for _, c := range checks {
		v, ok := metricValue(fams, c.name, c.label)
		if !ok || v < c.min {
			t.Errorf("%s%v = %v (present %v), want >= %v", c.name, c.label, v, ok, c.min)
		}
	}
	// Present from the start, moved by purges (retention tests cover
	// purging itself).
	if _, ok := metricValue(fams, "opendems_purge_schedule", map[string]string{"state": "purged"}); !ok {
		t.Errorf("opendems_purge_schedule{state=purged} missing")
	}
	if _, ok := metricValue(fams, "opendems_custody_checkpoint_failures_total", nil); !ok {
		t.Errorf("opendems_custody_checkpoint_failures_total missing")
	}
	if v, _ := metricValue(fams, "opendems_transcode_media_seconds_total", nil); v > 3.5 {
		t.Errorf("transcoded %v s of media from one 3 s clip", v)
	}
	if v, _ := metricValue(fams, "opendems_transcode_frames_total", nil); v > 46 {
		t.Errorf("transcoded %v frames from one clip of 45", v)
	}
	if t.Failed() {
		return
	}
	fams = checkCustodyVerification(t, app, srv.URL, itemID)

	// The shipped alert rules and dashboard name only metrics that exist.
	exposed := map[string]bool{"up": true}
	for name, f := range fams {
		exposed[name] = true
		if f.GetType() == dto.MetricType_HISTOGRAM {
			for _, s := range []string{"_bucket", "_count", "_sum"} {
				exposed[name+s] = true
			}
		}
	}
	root := filepath.Join("..", "..", "..", "..", "docs", "ops")
	exprs := alertExprs(t, filepath.Join(root, "alerts.yml"))
	if len(exprs) < 5 {
		t.Fatalf("alerts.yml has %d rules", len(exprs))
	}
	exprs = append(exprs, dashboardExprs(t, filepath.Join(root, "grafana-dashboard.json"))...)
	for _, e := range exprs {
		names := metricNames(e)
		if len(names) == 0 {
			t.Errorf("expression names no metric: %s", e)
		}
		for _, n := range names {
			if !exposed[n] {
				t.Errorf("expression %q names %s, which the server does not expose", e, n)
			}
		}
	}
}

// checkCustodyVerification runs the periodic custody verification job
// twice, before and after an event of item's chain is rewritten behind
// the server's back, and checks its metrics, its record and the audit of
// the failure. It returns the last scrape.
func checkCustodyVerification(t *testing.T, app *App, base string, item uuid.UUID) map[string]*dto.MetricFamily {
	t.Helper()
	ctx := context.Background()
	run := func() map[string]*dto.MetricFamily {
		t.Helper()
		runs, _ := metricValue(scrape(t, base), "opendems_custody_verification_seconds", nil)
		if _, err := app.River.Insert(ctx, jobs.CustodyVerifyArgs{}, nil); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(time.Minute)
		for {
			fams := scrape(t, base)
			if n, _ := metricValue(fams, "opendems_custody_verification_seconds", nil); n > runs {
				return fams
			}
			if time.Now().After(deadline) {
				t.Fatalf("the custody verification job did not run")
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	value := func(fams map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
		t.Helper()
		v, ok := metricValue(fams, name, labels)
		if !ok {
			t.Fatalf("%s%v missing", name, labels)
		}
		return v
	}

	fams := run()
	lastOK := value(fams, "opendems_custody_verification_last_success_timestamp_seconds", nil)
	if now := float64(time.Now().Unix()); lastOK < now-60 || lastOK > now+5 {
		t.Errorf("last successful verification at %v, now is %v", lastOK, now)
	}
	if v := value(fams, "opendems_custody_verification_problems", map[string]string{"log": "custody"}) +
		value(fams, "opendems_custody_verification_problems", map[string]string{"log": "audit"}); v != 0 {
		t.Errorf("a clean database: %v problems", v)
	}
	if v := value(fams, "opendems_custody_verification_failures_total", map[string]string{"log": "custody"}); v != 0 {
		t.Errorf("a clean database: %v failed verifications", v)
	}
	var events, items int64
	if err := app.Pool.QueryRow(ctx, `SELECT events, items FROM custody_verifications ORDER BY id DESC LIMIT 1`).Scan(&events, &items); err != nil || events < 2 || items < 1 {
		t.Fatalf("recorded run: %d events over %d items (%v)", events, items, err)
	}

	// Rewrite the item's first custody event (as a database superuser
	// could, triggers off for one session).
	tx, err := app.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SET LOCAL session_replication_role = replica`); err != nil {
		t.Fatal(err)
	}
	if tag, err := tx.Exec(ctx, `UPDATE custody_events SET actor = 'user:mallory' WHERE evidence_id = $1 AND seq = 1`, item); err != nil || tag.RowsAffected() != 1 {
		t.Fatalf("tamper: %v %v", tag, err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	fams = run()
	if v := value(fams, "opendems_custody_verification_failures_total", map[string]string{"log": "custody"}); v != 1 {
		t.Errorf("after tampering: %v failed verifications of custody, want 1", v)
	}
	if v := value(fams, "opendems_custody_verification_problems", map[string]string{"log": "custody"}); v < 1 {
		t.Errorf("after tampering: %v custody problems", v)
	}
	if v := value(fams, "opendems_custody_verification_last_success_timestamp_seconds", nil); v != lastOK {
		t.Errorf("the last success moved from %v to %v on a failed verification", lastOK, v)
	}
	var details string
	if err := app.Pool.QueryRow(ctx, `SELECT details FROM audit_log WHERE event_type = $1 AND outcome = 'failure' ORDER BY seq DESC LIMIT 1`,
		string(EventCustodyVerificationFailed)).Scan(&details); err != nil {
		t.Fatalf("the failed verification is not in the audit log: %v", err)
	}
	if !strings.Contains(details, item.String()) || !strings.Contains(details, "hash mismatch") {
		t.Errorf("audit of the failed verification does not name the item and the problem: %s", details)
	}
	return fams
}

var identRE = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`)

// promQLWords are PromQL's functions, aggregations and keywords: every
// other identifier outside braces, brackets and quotes is a metric name.
var promQLWords = func() map[string]bool {
	words := map[string]bool{}
	for _, w := range strings.Fields(`sum min max avg count stddev stdvar topk bottomk quantile count_values group
		by without on ignoring group_left group_right and or unless bool offset
		rate irate increase delta idelta deriv time histogram_quantile abs absent absent_over_time clamp_min clamp_max
		avg_over_time max_over_time min_over_time sum_over_time count_over_time label_replace vector scalar e inf nan`) {
		words[w] = true
	}
	return words
}()

// metricNames lists the metric names in a PromQL expression: identifiers
// outside label matchers ({...}), ranges ([...]), strings and the
// grouping lists of by/on/without (...).
func metricNames(expr string) []string {
	var b strings.Builder
	depthBrace, depthBracket := 0, 0
	inStr := byte(0)
	for i := 0; i < len(expr); i++ {
		ch := expr[i]
		switch {
		case inStr != 0:
			if ch == inStr {
				inStr = 0
			}
			ch = ' '
		case ch == '"' || ch == '\'':
			inStr, ch = ch, ' '
		case ch == '{':
			depthBrace++
		case ch == '}':
			depthBrace--
			ch = ' '
		case ch == '[':
			depthBracket++
		case ch == ']':
			depthBracket--
			ch = ' '
		}
		if depthBrace > 0 || depthBracket > 0 {
			ch = ' '
		}
		b.WriteByte(ch)
	}
	s := regexp.MustCompile(`\b(by|on|without|ignoring|group_left|group_right)\s*\([^)]*\)`).ReplaceAllString(b.String(), " ")
	seen := map[string]bool{}
	var out []string
	for _, loc := range identRE.FindAllStringIndex(s, -1) {
		w := s[loc[0]:loc[1]]
		if promQLWords[w] || seen[w] {
			continue
		}
		// A function call is followed by "(".
		rest := strings.TrimLeft(s[loc[1]:], " \t\n")
		if strings.HasPrefix(rest, "(") {
			continue
		}
		if loc[0] > 0 && (s[loc[0]-1] >= '0' && s[loc[0]-1] <= '9' || s[loc[0]-1] == '.') {
			continue // a number's exponent or unit
		}
		seen[w] = true
		out = append(out, w)
	}
	sort.Strings(out)
	return out
}

func alertExprs(t *testing.T, path string) []string {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Groups []struct {
			Name  string `yaml:"name"`
			Rules []struct {
				Alert       string            `yaml:"alert"`
				Expr        string            `yaml:"expr"`
				For         string            `yaml:"for"`
				Labels      map[string]string `yaml:"labels"`
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var exprs []string
	names := map[string]bool{}
	for _, g := range doc.Groups {
		for _, r := range g.Rules {
			what := fmt.Sprintf("%s: group %s, alert %q", path, g.Name, r.Alert)
			switch {
			case r.Alert == "" || names[r.Alert]:
				t.Errorf("%s: missing or duplicate name", what)
			case strings.TrimSpace(r.Expr) == "":
				t.Errorf("%s: no expr", what)
			case r.Labels["severity"] != "warning" && r.Labels["severity"] != "critical":
				t.Errorf("%s: severity %q", what, r.Labels["severity"])
			case r.Annotations["summary"] == "":
				t.Errorf("%s: no summary", what)
			}
			if r.For != "" {
				if _, err := model.ParseDuration(r.For); err != nil {
					t.Errorf("%s: for: %v", what, err)
				}
			}
			if strings.Count(r.Expr, "(") != strings.Count(r.Expr, ")") {
				t.Errorf("%s: unbalanced parentheses", what)
			}
			names[r.Alert] = true
			exprs = append(exprs, r.Expr)
		}
	}
	return exprs
}

func dashboardExprs(t *testing.T, path string) []string {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Title  string `json:"title"`
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var exprs []string
	for _, p := range d.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("%s: panel %q has no query", path, p.Title)
		}
		for _, tg := range p.Targets {
			exprs = append(exprs, tg.Expr)
		}
	}
	if len(exprs) < 10 {
		t.Fatalf("%s: %d queries", path, len(exprs))
	}
	return exprs
}

func TestMetricNames(t *testing.T) {
	for expr, want := range map[string]string{
		`sum by (check) (increase(opendems_x_total{check=~"digest|size"}[15m])) > 0`: "opendems_x_total",
		`histogram_quantile(0.99, sum by (le) (rate(a_bucket[5m]))) > 1e3`:           "a_bucket",
		`(time() - max(b) > 7200) and on() (max(delta(c[2h])) > 0)`:                  "b c",
		`sum(rate(h{status=~"5.."}[5m])) / sum(rate(h[5m]))`:                         "h",
		`up{job="opendems"} == 0`: "up",
	} {
		if got := strings.Join(metricNames(expr), " "); got != want {
			t.Errorf("metricNames(%q) = %q, want %q", expr, got, want)
		}
	}
}
