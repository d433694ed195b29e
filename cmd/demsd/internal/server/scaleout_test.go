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
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/opendems/opendems/evidence/ingest/wire"
	"github.com/opendems/opendems/storage"
	"github.com/opendems/opendems/transcode"
)

// TestScaleOutProcesses runs the production shape as real processes: two
// `demsd serve` (workers off) and two `demsd worker` over one PostgreSQL
// database and one MinIO bucket with Object Lock (docs/ops/deployment.md).
//
//  1. An upload started on serve A resumes and commits on serve B (a dock
//     moved to another instance behind the load balancer).
//  2. A recording uploaded through A is transcoded by a worker; its proxy
//     and original are read through B; neither serve process ran a job.
//  3. A worker is killed (SIGKILL) in the middle of a transcode; after
//     river rescues the stuck job, the other worker runs it again and the
//     item ends ready with exactly one proxy, whole and playable.
func TestScaleOutProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("builds demsd and runs four processes")
	}
	c := newProcCluster(t, "s3")
	ctx := context.Background()
	a, b := c.serve("serve-a"), c.serve("serve-b")
	// Each worker gets its own TMPDIR: a job's scratch directory there
	// tells which worker holds it.
	var workers [2]struct {
		cmd     interface{ Signal(os.Signal) error }
		metrics string
		tmp     string
	}
	for i := range workers {
		workers[i].tmp = filepath.Join(c.dir, fmt.Sprintf("tmp-%d", i+1))
		if err := os.MkdirAll(workers[i].tmp, 0o700); err != nil {
			t.Fatal(err)
		}
		cmd, base := c.worker(fmt.Sprintf("worker-%d", i+1), "OPENDEMS_WORKERS_CONCURRENCY=1",
			"OPENDEMS_WORKERS_RESCUE_STUCK_AFTER=2h", "TMPDIR="+workers[i].tmp)
		workers[i].cmd, workers[i].metrics = cmd.Process, base
	}
	transcodes := func(i int) float64 {
		v, _ := metricValue(scrape(t, workers[i].metrics), "opendems_job_run_seconds", map[string]string{"kind": "transcode"})
		return v
	}

	dock := c.creds.Dock.Token
	send := func(base, method, path string, hdr map[string]string, body []byte) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+dock)
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

	// 1. Two chunks: session and first chunk on A, second chunk and
	// commit on B.
	big := make([]byte, 5<<20+12345)
	rand.Read(big)
	sum := sha256.Sum256(big)
	cr, _ := json.Marshal(wire.CreateRequest{SHA256: hex.EncodeToString(sum[:]), Size: int64(len(big)), Filename: "two-chunks.bin",
		Metadata: wire.Metadata{OfficerID: "N1001"}})
	st, m := send(a, "POST", wire.PathSessions, map[string]string{"Content-Type": "application/json"}, cr)
	sid, _ := m["session_id"].(string)
	if (st != 200 && st != 201) || sid == "" || m["chunk_size"] != float64(5<<20) {
		t.Fatalf("create on A: %d %v", st, m)
	}
	for i, part := range [][]byte{big[:5<<20], big[5<<20:]} {
		base := []string{a, b}[i]
		cs := sha256.Sum256(part)
		st, m := send(base, "PUT", fmt.Sprintf("%s/%s/chunks?offset=%d", wire.PathSessions, sid, i*(5<<20)),
			map[string]string{wire.HeaderChunkSHA256: hex.EncodeToString(cs[:])}, part)
		if st != 200 {
			t.Fatalf("chunk %d on %s: %d %v", i, base, st, m)
		}
	}
	st, m = send(b, "POST", wire.PathSessions+"/"+sid+"/commit", nil, nil)
	if bigID, _ := m["evidence_id"].(string); st != 200 || bigID == "" {
		t.Fatalf("commit on B of a session started on A: %d %v", st, m)
	}
	if obj, err := c.app.Storage.Stat(ctx, storage.Ref{Namespace: storage.Originals, Digest: storage.Digest(sum)}); err != nil || obj.Size != int64(len(big)) {
		t.Fatalf("the original in MinIO: %+v %v", obj, err)
	} else if obj.RetainUntil.Before(time.Now().Add(24 * time.Hour)) {
		t.Fatalf("the original in MinIO is locked only until %s", obj.RetainUntil)
	}

	// 2. A recording through A, transcoded by a worker, read through B.
	north := newCaller(t, b, credUser(c.creds, "supervisor", "north").APIToken)
	getB := func(path string) (int, []byte) {
		req, _ := http.NewRequest("GET", b+path, nil)
		req.Header.Set("Authorization", "Bearer "+north.token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, body
	}
	uploadClip := func(name string, clip DemoClip) (uuid.UUID, []byte) {
		path := filepath.Join(c.dir, name)
		if err := MakeDemoClip(ctx, c.dir, path, clip); err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		st, m := uploadOverHTTP(t, a, dock, data, nil, true)
		id, err := uuid.Parse(fmt.Sprint(m["evidence_id"]))
		if st != 200 || err != nil {
			t.Fatalf("upload %s through A: %d %v", name, st, m)
		}
		return id, data
	}
	waitProxy := func(id uuid.UUID) []byte {
		deadline := time.Now().Add(3 * time.Minute)
		for {
			st, body := getB("/api/v1/evidence/" + id.String() + "/proxy")
			if st == 200 && len(body) > 1000 {
				return body
			}
			if time.Now().After(deadline) {
				t.Fatalf("proxy of %s through B never became ready: %d %s", id, st, body)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	id, data := uploadClip("clip.mp4", DemoClip{Seconds: 2, Width: 320, Height: 240, FPS: 15, Hue: 90})
	clipSum := sha256.Sum256(data)
	if st, item := north.do("GET", "/api/v1/evidence/"+id.String(), ""); st != 200 || item["sha256"] != hex.EncodeToString(clipSum[:]) {
		t.Fatalf("item through B: %d %v", st, item)
	}
	waitProxy(id)
	if st, orig := getB("/api/v1/evidence/" + id.String() + "/original"); st != 200 || !bytes.Equal(orig, data) {
		t.Fatalf("original through B: %d, %d bytes (want %d)", st, len(orig), len(data))
	}
	if n := transcodes(0) + transcodes(1); n < 1 {
		t.Errorf("the workers ran %v transcodes", n)
	}
	for _, base := range []string{a, b} {
		if v, ok := metricValue(scrape(t, base), "opendems_job_run_seconds", nil); ok && v > 0 {
			t.Errorf("serve process %s ran %v jobs; its workers are off", base, v)
		}
	}
	if v, _ := metricValue(scrape(t, a), "opendems_ingest_received_bytes_total", nil); v < float64(5<<20+len(data)) {
		t.Errorf("A received %v bytes", v)
	}
	if v, _ := metricValue(scrape(t, b), "opendems_ingest_commit_seconds", map[string]string{"outcome": "ok"}); v < 1 {
		t.Errorf("B committed %v uploads", v)
	}

	// 3. Kill the worker holding a transcode while it runs.
	long, _ := uploadClip("long.mp4", DemoClip{Seconds: 20, Width: 640, Height: 360, FPS: 25, Hue: 30})
	type row struct {
		status  string
		proxies int
		job     string
		attempt int
	}
	read := func() row {
		var r row
		err := c.app.Pool.QueryRow(ctx, `SELECT i.proxy_status,
				(SELECT count(*) FROM evidence_derivatives d WHERE d.evidence_id = i.id AND d.kind = 'proxy'),
				coalesce((SELECT state::text FROM river_job j WHERE j.kind = 'transcode' AND j.args->>'evidence_id' = i.id::text), ''),
				coalesce((SELECT attempt FROM river_job j WHERE j.kind = 'transcode' AND j.args->>'evidence_id' = i.id::text), 0)
			FROM evidence_items i WHERE i.id = $1`, long).Scan(&r.status, &r.proxies, &r.job, &r.attempt)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	victim := -1
	deadline := time.Now().Add(2 * time.Minute)
	for victim < 0 {
		for i := range workers {
			if m, _ := filepath.Glob(filepath.Join(workers[i].tmp, "transcode-"+long.String()+"-*")); len(m) > 0 {
				victim = i
			}
		}
		if victim < 0 {
			if time.Now().After(deadline) {
				t.Fatalf("no worker started the transcode of %s: %+v", long, read())
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	if err := workers[victim].cmd.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	survivor := 1 - victim
	before := transcodes(survivor)
	time.Sleep(200 * time.Millisecond) // the killed process is gone
	if r := read(); r.proxies != 0 || r.job != "running" || r.attempt != 1 {
		t.Fatalf("after kill -9 of worker-%d: %+v; want a running first attempt and no proxy", victim+1, r)
	}
	// River rescues a job whose attempt started more than
	// workers.rescue_stuck_after ago (2h here). Moving the attempt's
	// start back stands for that much time passing; the rescue and the
	// retry are the surviving worker's (it becomes river's leader once
	// the killed one's lease expires).
	if _, err := c.app.Pool.Exec(ctx, `UPDATE river_job SET attempted_at = now() - interval '3 hours'
		WHERE kind = 'transcode' AND args->>'evidence_id' = $1`, long.String()); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(3 * time.Minute)
	for {
		r := read()
		if r.status == "ready" && r.job == "completed" {
			if r.attempt != 2 || r.proxies != 1 {
				t.Fatalf("finished: %+v; want attempt 2 and one proxy", r)
			}
			t.Logf("worker-%d killed mid-transcode; worker-%d finished the retry %.1f s later", victim+1, survivor+1, time.Since(killed).Seconds())
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the surviving worker did not finish the transcode: %+v", r)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if after := transcodes(survivor); after < before+1 {
		t.Errorf("worker-%d ran %v transcodes, %v before the kill: the retry was not its", survivor+1, after, before)
	}
	proxy := filepath.Join(c.dir, "proxy.mp4")
	if err := os.WriteFile(proxy, waitProxy(long), 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := transcode.Probe(ctx, proxy)
	if err != nil {
		t.Fatal(err)
	}
	if !p.HasVideo || p.Duration < 19.5 || p.Duration > 20.5 {
		t.Fatalf("proxy read through B: video=%v duration=%.2f", p.HasVideo, p.Duration)
	}
}
