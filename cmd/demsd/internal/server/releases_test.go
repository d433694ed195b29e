package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/opendems/opendems/evidence/custody"
	"github.com/opendems/opendems/evidence/identity"
	"github.com/opendems/opendems/evidence/request"
	"github.com/opendems/opendems/storage"
)

// ingestedItem is insertItem with the ingested custody event a real
// ingest appends (a release's custody excerpt needs it).
func ingestedItem(t *testing.T, a *App, unit, officer string) uuid.UUID {
	t.Helper()
	ctx := context.Background()
	id := insertItem(t, a, unit, officer)
	var sum []byte
	var size int64
	if err := a.Pool.QueryRow(ctx, `SELECT sha256, size FROM evidence_items WHERE id = $1`, id).Scan(&sum, &size); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Custody.Append(ctx, custody.NewEvent{EvidenceID: id, Actor: "dock:test", Action: custody.ActionIngested,
		Details: map[string]any{"sha256": hex.EncodeToString(sum), "size": size}}); err != nil {
		t.Fatal(err)
	}
	return id
}

// recordRender stores a rendered clip (random bytes standing for the
// video: releases never decode it) with the render report the redaction
// worker writes, and records it as the clip's render of version.
func recordRender(t *testing.T, a *App, clipID uuid.UUID, version int) string {
	t.Helper()
	ctx := context.Background()
	clip, err := a.Requests.Clip(ctx, clipID)
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 300<<10)
	rand.Read(data)
	d := storage.Digest(sha256.Sum256(data))
	if _, err := a.Storage.Put(ctx, storage.Ref{Namespace: storage.Derivatives, Digest: d}, int64(len(data)), bytes.NewReader(data), storage.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	report := map[string]any{"version": 1, "source": map[string]any{"path": "original", "size": 1024, "sha256": clip.SourceSHA256},
		"output": map[string]any{"path": "render.mp4", "size": len(data), "sha256": d.String()}, "clip_source": clip.EvidenceID.String(),
		"in": 0.0, "out": 1.0, "frames": 25, "samples": 0,
		"items": []map[string]any{{"id": "face-1", "kind": "region", "start": 0.2, "end": 0.8, "output_start": 0.2, "output_end": 0.8,
			"method": "blur (ellipse)", "reason": "b(7)(C)", "origin": "manual", "frames": 15}}}
	details, _ := json.Marshal(map[string]any{"frames": 25, "items": 1, "report": report})
	if _, err := a.Requests.RecordJobOutput(ctx, request.Actor{Name: "system:redaction"}, request.JobOutput{ClipID: clipID,
		Kind: request.OutputRender, SpecVersion: version, ObjectKey: "derivatives/" + d.String(), SHA256: d.String(),
		Size: int64(len(data)), SourceSHA256: clip.SourceSHA256, Details: details}); err != nil {
		t.Fatal(err)
	}
	return d.String()
}

// secondRecordsOfficer makes another records officer with an API token.
func secondRecordsOfficer(t *testing.T, a *App, name string) string {
	t.Helper()
	ctx := context.Background()
	u, err := a.Identity.CreateUser(ctx, identity.NewUser{Username: name, Password: "a long enough password", Role: "records", Unit: "north"})
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := a.Identity.CreateAPIToken(ctx, u.ID, "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestReleaseWorkflow walks a request from redaction to a released
// package through the assembled server: the maker cannot approve their own
// redaction (403 naming why), the generic transition cannot skip review
// (409), a later render voids an approval and sends the request back,
// releasing needs an approved request, and the package the server builds
// is stored locked, recorded in custody and the timeline, served with
// Range, and verified by `dems verify --server` (a tampered copy fails).
func TestReleaseWorkflow(t *testing.T) {
	app, srv, creds := leadTestApp(t)
	ctx := context.Background()
	maker := newCaller(t, srv.URL, credUser(creds, "records", "").APIToken)
	checker := newCaller(t, srv.URL, secondRecordsOfficer(t, app, "checker"))
	auditor := newCaller(t, srv.URL, credUser(creds, "auditor", "").APIToken)

	item := ingestedItem(t, app, "north", "N1001")
	st, m := maker.do("POST", "/api/v1/requests", `{"requester_name":"Ann Reporter","requester_type":"media","contact":"ann@example.org",
		"description":"stop on 5th","channel":"email"}`)
	if st != 201 {
		t.Fatalf("create: %d %v", st, m)
	}
	reqID := m["request"].(map[string]any)["id"].(string)
	base := "/api/v1/requests/" + reqID
	for _, body := range []string{`{"state":"assigned","assignee":"records"}`, `{"state":"searching"}`} {
		if st, m = maker.do("POST", base+"/transition", body); st != 200 {
			t.Fatalf("transition %s: %d %v", body, st, m)
		}
	}
	if st, m = maker.do("POST", base+"/clips", `{"evidence_id":"`+item.String()+`","in_ms":0,"out_ms":1000}`); st != 201 {
		t.Fatalf("add clip: %d %v", st, m)
	}
	clipID := m["clip"].(map[string]any)["id"].(string)
	clipPath := base + "/clips/" + clipID
	spec := `{"version":1,"clip":{"source":"` + item.String() + `"},"regions":[{"id":"face-1","shape":"ellipse","effect":{"type":"blur"},"reason":"b(7)(C)","origin":"manual","keyframes":[{"time":0.2,"x":10,"y":10,"width":40,"height":50}]}]}`
	if st, m = maker.do("PUT", clipPath+"/spec", `{"base_version":0,"spec":`+spec+`}`); st != 201 {
		t.Fatalf("save spec: %d %v", st, m)
	}
	// Nothing to submit before a render; and not before redacting.
	if st, m = maker.do("POST", clipPath+"/review", ""); st != 409 {
		t.Fatalf("submit while searching: %d %v", st, m)
	}
	if st, m = maker.do("POST", base+"/transition", `{"state":"redacting"}`); st != 200 {
		t.Fatalf("redacting: %d %v", st, m)
	}
	if st, m = maker.do("POST", clipPath+"/review", ""); st != 409 || !strings.Contains(fmt.Sprint(m), "render") {
		t.Fatalf("submit without a render: %d %v", st, m)
	}
	out1 := recordRender(t, app, uuid.MustParse(clipID), 1)
	st, m = maker.do("POST", clipPath+"/review", `{"note":"faces blurred"}`)
	if st != 201 || m["state"] != "pending" || m["output_sha256"] != out1 || m["spec_version"] != float64(1) {
		t.Fatalf("submit: %d %v", st, m)
	}
	reviewID := m["id"].(string)
	if st, m = maker.do("GET", base, ""); m["request"].(map[string]any)["state"] != "in_review" {
		t.Fatalf("request after submitting every clip: %v", m)
	}
	// The maker may not approve: 403 naming every part they had.
	st, m = maker.do("POST", base+"/reviews/"+reviewID+"/approve", `{"comment":"fine"}`)
	if msg := fmt.Sprint(m); st != 403 || errCode(m) != "separation_of_duties" || !strings.Contains(msg, "authored spec version 1") ||
		!strings.Contains(msg, "linked the clip") || !strings.Contains(msg, "submitted it") {
		t.Fatalf("maker approving: %d %v", st, m)
	}
	// Policy explain shows the rule for the review.
	st, m = newCaller(t, srv.URL, credUser(creds, "admin", "").APIToken).do("GET", "/api/v1/policy/explain?user=records&action=redaction:approve&review="+reviewID, "")
	if st != 200 || m["allowed"] != false || !strings.Contains(fmt.Sprint(m), "separation of duties") {
		t.Fatalf("explain for the maker: %d %v", st, m)
	}
	st, m = newCaller(t, srv.URL, credUser(creds, "admin", "").APIToken).do("GET", "/api/v1/policy/explain?user=checker&action=redaction:approve&review="+reviewID, "")
	if st != 200 || m["allowed"] != true {
		t.Fatalf("explain for the checker: %d %v", st, m)
	}
	// Nobody skips review through the generic transition, nor releases
	// before approval.
	if st, m = maker.do("POST", base+"/transition", `{"state":"approved"}`); st != 409 || !strings.Contains(fmt.Sprint(m), "second reviewer") {
		t.Fatalf("transition to approved around review: %d %v", st, m)
	}
	if st, m = maker.do("POST", base+"/releases", ""); st != 409 {
		t.Fatalf("release before approval: %d %v", st, m)
	}
	// The auditor has no approve action; a reject needs a comment.
	if st, _ = auditor.do("POST", base+"/reviews/"+reviewID+"/approve", ""); st != 403 {
		t.Fatalf("auditor approving: %d", st)
	}
	if st, m = checker.do("POST", base+"/reviews/"+reviewID+"/reject", `{}`); st != 400 {
		t.Fatalf("reject without comment: %d %v", st, m)
	}
	st, m = checker.do("POST", base+"/reviews/"+reviewID+"/approve", `{"comment":"checked frame by frame","comments":[{"region":"face-1","start":0.2,"end":0.8,"text":"blur covers the face"}]}`)
	if st != 200 || m["state"] != "approved" || m["decided_by"] != "user:checker" {
		t.Fatalf("approve: %d %v", st, m)
	}
	if _, m = maker.do("GET", base, ""); m["request"].(map[string]any)["state"] != "approved" {
		t.Fatalf("request after approval: %v", m)
	}
	// A later render voids the approval: back to redacting.
	recordRender(t, app, uuid.MustParse(clipID), 1)
	if _, m = maker.do("GET", base+"/reviews", ""); m["reviews"].([]any)[0].(map[string]any)["state"] != "voided" {
		t.Fatalf("review after a new render: %v", m)
	}
	if _, m = maker.do("GET", base, ""); m["request"].(map[string]any)["state"] != "redacting" {
		t.Fatalf("request after a new render: %v", m)
	}
	if st, m = checker.do("POST", base+"/reviews/"+reviewID+"/approve", `{}`); st != 409 {
		t.Fatalf("approving a voided review: %d %v", st, m)
	}
	// Submitted again, approved again, withheld an item, released.
	if st, m = maker.do("POST", clipPath+"/review", ""); st != 201 {
		t.Fatalf("resubmit: %d %v", st, m)
	}
	reviewID = m["id"].(string)
	withheldItem := ingestedItem(t, app, "north", "N1001")
	if st, m = maker.do("POST", base+"/withheld", `{"evidence_id":"`+withheldItem.String()+`","exemptions":["b(7)(A)"],"note":"open investigation"}`); st != 201 {
		t.Fatalf("withhold: %d %v", st, m)
	}
	if st, m = checker.do("POST", base+"/reviews/"+reviewID+"/approve", `{"comment":"ok"}`); st != 200 {
		t.Fatalf("approve again: %d %v", st, m)
	}
	if st, _ = checker.do("POST", base+"/releases", ""); st != 201 {
		// The checker may release too (release:create); the test goes on
		// with the maker's release below only if this one failed.
		t.Logf("checker release: %d", st)
	}
	_, m = maker.do("GET", base+"/releases", "")
	rels := m["releases"].([]any)
	if len(rels) != 1 {
		t.Fatalf("releases: %v", m)
	}
	rel := rels[0].(map[string]any)
	if rel["state"] != "released" || len(rel["package_sha256"].(string)) != 64 {
		t.Fatalf("release: %v", rel)
	}
	relID := rel["id"].(string)
	if _, m = maker.do("GET", base, ""); m["request"].(map[string]any)["state"] != "released" {
		t.Fatalf("request after release: %v", m)
	}
	// Custody of the source item: approved, then released.
	events, err := custody.Events(ctx, app.Pool, item)
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range events {
		actions = append(actions, string(e.Action))
	}
	if !strings.Contains(strings.Join(actions, " "), "redaction_approved") || actions[len(actions)-1] != "released" {
		t.Fatalf("custody: %v", actions)
	}
	// Timeline.
	_, m = maker.do("GET", base+"/timeline", "")
	tl := fmt.Sprint(m)
	for _, k := range []string{"review_submitted", "review_approved", "review_voided", "release_started", "released"} {
		if !strings.Contains(tl, k) {
			t.Fatalf("timeline lacks %s: %v", k, m)
		}
	}
	// The stored package is locked.
	sum, _ := storage.ParseDigest(rel["package_sha256"].(string))
	if err := app.Storage.Delete(ctx, storage.Ref{Namespace: storage.Derivatives, Digest: sum}); !errors.Is(err, storage.ErrRetained) {
		t.Fatalf("deleting the package: %v", err)
	}

	// Download (whole and a range), compare, verify with dems.
	pkg := download(t, srv.URL+"/api/v1/releases/"+relID+"/package", credUser(creds, "records", "").APIToken, "")
	if h := sha256.Sum256(pkg); hex.EncodeToString(h[:]) != rel["package_sha256"] || int64(len(pkg)) != int64(rel["package_size"].(float64)) {
		t.Fatalf("downloaded package differs from the release record")
	}
	part := download(t, srv.URL+"/api/v1/releases/"+relID+"/package", credUser(creds, "records", "").APIToken, "bytes=100-199")
	if !bytes.Equal(part, pkg[100:200]) {
		t.Fatalf("range: %d bytes", len(part))
	}
	if st, _ = auditor.do("GET", "/api/v1/releases/"+relID+"/package", ""); st != 403 {
		t.Fatalf("auditor downloading the package: %d", st)
	}
	// A release that was not released is refused with 409.
	failed := uuid.New()
	if _, err := app.Pool.Exec(ctx, `INSERT INTO releases (id, request_id, state, created_by, created_at) VALUES ($1, $2, 'failed', 'user:records', now())`, failed, reqID); err != nil {
		t.Fatal(err)
	}
	if st, m = maker.do("GET", "/api/v1/releases/"+failed.String()+"/package", ""); st != 409 {
		t.Fatalf("package of a failed release: %d %v", st, m)
	}

	dir := t.TempDir()
	file := filepath.Join(dir, rel["package_name"].(string))
	if err := os.WriteFile(file, pkg, 0o600); err != nil {
		t.Fatal(err)
	}
	bin := buildDems(t)
	pins := filepath.Join(dir, "pins")
	out, err := exec.Command(bin, "verify", "--server", srv.URL, "--pin-dir", pins, file).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "OK: every file") {
		t.Fatalf("dems verify --server of the server's package: %v\n%s", err, out)
	}
	// One byte changed inside the clip: named by dems verify.
	tampered := bytes.Clone(pkg)
	i := bytes.Index(tampered, []byte("data/clips/")) + 2000
	tampered[i] ^= 1
	bad := filepath.Join(dir, "tampered.zip")
	os.WriteFile(bad, tampered, 0o600)
	out, err = exec.Command(bin, "verify", "--server", srv.URL, "--pin-dir", pins, bad).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "data/clips/") {
		t.Fatalf("dems verify of a tampered package: %v\n%s", err, out)
	}
}

func download(t *testing.T, url, token, rng string) []byte {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	if rng != "" {
		req.Header.Set("Range", rng)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	want := 200
	if rng != "" {
		want = 206
	}
	if resp.StatusCode != want {
		t.Fatalf("GET %s (%s): %d %s", url, rng, resp.StatusCode, b)
	}
	return b
}

func buildDems(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "dems")
	build := exec.Command("go", "build", "-o", bin, "github.com/opendems/opendems/cmd/dems")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build dems: %v\n%s", err, out)
	}
	return bin
}
