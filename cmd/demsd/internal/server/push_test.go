package server

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestDockPushEndToEnd runs the real dems-dock binary against the assembled
// server: the receipt verifies, the item is visible to its unit's
// supervisor only, its chain starts with "ingested", and its transcode and
// retention jobs were enqueued with it.
func TestDockPushEndToEnd(t *testing.T) {
	app, srv, creds := leadTestApp(t)
	bin := filepath.Join(t.TempDir(), "dems-dock")
	build := exec.Command("go", "build", "-o", bin, "github.com/opendems/opendems/cmd/dems-dock")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build dems-dock: %v\n%s", err, out)
	}
	file := filepath.Join(t.TempDir(), "clip.mp4")
	data := make([]byte, 7<<20)
	rand.Read(data)
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "push", "--server", srv.URL, "--json", "--quiet", "--officer", "N1001", "--device", "CAM-7", file)
	cmd.Env = append(os.Environ(), "DEMS_DOCK_TOKEN="+creds.Dock.Token)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("push: %v\nstdout: %s\nstderr: %s", err, stdout.String(), stderr.String())
	}
	var rec struct {
		File       string          `json:"file"`
		SHA256     string          `json:"sha256"`
		EvidenceID string          `json:"evidence_id"`
		Size       int64           `json:"size"`
		Receipt    json.RawMessage `json:"receipt"`
	}
	sc := bufio.NewScanner(&stdout)
	if !sc.Scan() {
		t.Fatalf("no receipt line; stderr: %s", stderr.String())
	}
	if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
		t.Fatalf("receipt line %q: %v", sc.Text(), err)
	}
	if rec.EvidenceID == "" || rec.Size != int64(len(data)) || len(rec.Receipt) == 0 {
		t.Fatalf("receipt = %+v", rec)
	}

	north := newCaller(t, srv.URL, credUser(creds, "supervisor", "north").APIToken)
	st, item := north.do("GET", "/api/v1/evidence/"+rec.EvidenceID, "")
	if st != 200 || item["sha256"] != rec.SHA256 || item["officer_id"] != "N1001" || item["unit"] != "north" {
		t.Fatalf("item as seen by sgt.north: %d %v", st, item)
	}
	st, chain := north.do("GET", "/api/v1/evidence/"+rec.EvidenceID+"/custody", "")
	events, _ := chain["events"].([]any)
	if st != 200 || len(events) == 0 || events[0].(map[string]any)["action"] != "ingested" {
		t.Fatalf("custody: %d %v", st, chain)
	}
	south := newCaller(t, srv.URL, credUser(creds, "supervisor", "south").APIToken)
	st, missing := south.do("GET", "/api/v1/evidence/00000000-0000-0000-0000-000000000000", "")
	st2, other := south.do("GET", "/api/v1/evidence/"+rec.EvidenceID, "")
	if st2 != 404 || st != 404 || errCode(other) != errCode(missing) {
		t.Fatalf("another unit's item must look missing: %d %v vs %d %v", st2, other, st, missing)
	}
	var kinds []string
	rows, err := app.Pool.Query(context.Background(), `SELECT kind FROM river_job WHERE args->>'evidence_id' = $1 ORDER BY kind`, rec.EvidenceID)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var k string
		rows.Scan(&k)
		kinds = append(kinds, k)
	}
	if len(kinds) != 2 || kinds[0] != "retention_recompute" || kinds[1] != "transcode" {
		t.Fatalf("jobs enqueued with the item: %v", kinds)
	}

	// The same file again: same item, no duplicate, and the attempt is in
	// the chain.
	cmd = exec.Command(bin, "push", "--server", srv.URL, "--json", "--quiet", file)
	cmd.Env = append(os.Environ(), "DEMS_DOCK_TOKEN="+creds.Dock.Token)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("second push: %v", err)
	}
	var rec2 struct {
		EvidenceID string `json:"evidence_id"`
	}
	json.Unmarshal(bytes.TrimSpace(out), &rec2)
	if rec2.EvidenceID != rec.EvidenceID {
		t.Fatalf("duplicate push made %q, want %q", rec2.EvidenceID, rec.EvidenceID)
	}
	var n int
	app.Pool.QueryRow(context.Background(), `SELECT count(*) FROM evidence_items`).Scan(&n)
	if n != 1 {
		t.Fatalf("%d items after pushing one file twice", n)
	}
}
