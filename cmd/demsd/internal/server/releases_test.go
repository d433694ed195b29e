package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/opendems/opendems/evidence/custody"
	"github.com/opendems/opendems/evidence/identity"
	"github.com/opendems/opendems/evidence/release"
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
	// The build is a job: POST answers 202 with the release building; a
	// second release while it builds is 409; the package is fetched only
	// once it is released (409 with Retry-After before).
	if st, m = checker.do("POST", base+"/releases", ""); st != 202 || m["state"] != "building" || m["job"] == nil {
		t.Fatalf("release: %d %v", st, m)
	}
	building := m["id"].(string)
	if st, m = maker.do("POST", base+"/releases", ""); st != 409 || !strings.Contains(fmt.Sprint(m), "being built") {
		t.Fatalf("second release while one builds: %d %v", st, m)
	}
	if st, m = maker.do("GET", "/api/v1/releases/"+building+"/package?wait=0", ""); st != 409 || !strings.Contains(fmt.Sprint(m), "release_building") {
		t.Fatalf("package while building: %d %v", st, m)
	}
	if st, m = maker.do("GET", "/api/v1/releases/"+building+"/package?wait=x", ""); st != 400 {
		t.Fatalf("package with a bad wait: %d %v", st, m)
	}
	// A download started while the package is built waits for it.
	type answer struct {
		status int
		body   []byte
	}
	waited := make(chan answer, 1)
	go func() {
		req, _ := http.NewRequest("GET", srv.URL+"/api/v1/releases/"+building+"/package?wait=120", nil)
		req.Header.Set("Authorization", "Bearer "+credUser(creds, "records", "").APIToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			waited <- answer{status: -1, body: []byte(err.Error())}
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		waited <- answer{resp.StatusCode, b}
	}()
	time.Sleep(time.Second)
	startReleaseBuilder(t, app)
	if m = waitReleased(t, maker, building); m["state"] != "released" {
		t.Fatalf("release build: %v", m)
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		// river completes the job just after the build recorded it
		_, m = maker.do("GET", "/api/v1/releases/"+building, "")
		job := m["job"].(map[string]any)
		if job["progress"] == 100.0 && job["state"] == "completed" && job["attempt"] == 1.0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("release job after the build: %v", job)
		}
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
	if a := <-waited; a.status != 200 || !bytes.Equal(a.body, pkg) {
		t.Fatalf("download that waited for the build: %d, %d bytes (package %d bytes)", a.status, len(a.body), len(pkg))
	}
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

// releasedPackage takes a new request through review to a released
// package (maker links and edits, checker approves) and returns the
// request id and the release JSON.
func releasedPackage(t *testing.T, app *App, maker, checker *caller) (string, map[string]any) {
	t.Helper()
	reqID, _ := approvedRequest(t, app, maker, checker)
	base := "/api/v1/requests/" + reqID
	st, m := maker.do("POST", base+"/releases", `{"letter":["Enclosed are the recordings you asked for."]}`)
	if st != 202 {
		t.Fatalf("release: %d %v", st, m)
	}
	startReleaseBuilder(t, app)
	m = waitReleased(t, maker, m["id"].(string))
	if m["state"] != "released" {
		t.Fatalf("release build: %v", m)
	}
	return reqID, m
}

// approvedRequest takes a new request through review to approved (maker
// links and edits, checker approves) and returns its id and the SHA-256
// of the approved render.
func approvedRequest(t *testing.T, app *App, maker, checker *caller) (string, string) {
	t.Helper()
	item := ingestedItem(t, app, "north", "N1001")
	st, m := maker.do("POST", "/api/v1/requests", `{"requester_name":"Sam Media","requester_type":"media","contact":"sam@example.org","description":"d","channel":"email"}`)
	if st != 201 {
		t.Fatalf("create: %d %v", st, m)
	}
	reqID := m["request"].(map[string]any)["id"].(string)
	base := "/api/v1/requests/" + reqID
	for _, body := range []string{`{"state":"assigned","assignee":"records"}`, `{"state":"searching"}`} {
		maker.do("POST", base+"/transition", body)
	}
	_, m = maker.do("POST", base+"/clips", `{"evidence_id":"`+item.String()+`","in_ms":0,"out_ms":1000}`)
	clipID := m["clip"].(map[string]any)["id"].(string)
	spec := `{"version":1,"clip":{"source":"` + item.String() + `"},"regions":[{"id":"face-1","shape":"ellipse","effect":{"type":"blur"},"reason":"b(7)(C)","origin":"manual","keyframes":[{"time":0.2,"x":10,"y":10,"width":40,"height":50}]}]}`
	maker.do("PUT", base+"/clips/"+clipID+"/spec", `{"base_version":0,"spec":`+spec+`}`)
	maker.do("POST", base+"/transition", `{"state":"redacting"}`)
	render := recordRender(t, app, uuid.MustParse(clipID), 1)
	_, m = maker.do("POST", base+"/clips/"+clipID+"/review", "")
	if st, m = checker.do("POST", base+"/reviews/"+m["id"].(string)+"/approve", `{"comment":"ok"}`); st != 200 {
		t.Fatalf("approve: %d %v", st, m)
	}
	return reqID, render
}

// TestReleaseBuildCancelAndFailure: a build in progress is cancelled
// (release failed "cancelled by", its job cancelled, the request still
// approved), built again by a second POST; a clip whose stored bytes
// changed fails the build permanently naming the clip, and nothing is
// released.
func TestReleaseBuildCancelAndFailure(t *testing.T) {
	app, srv, creds := leadTestApp(t)
	maker := newCaller(t, srv.URL, credUser(creds, "records", "").APIToken)
	checker := newCaller(t, srv.URL, secondRecordsOfficer(t, app, "checker"))
	auditor := newCaller(t, srv.URL, credUser(creds, "auditor", "").APIToken)
	reqID, render := approvedRequest(t, app, maker, checker)
	base := "/api/v1/requests/" + reqID
	st, m := maker.do("POST", base+"/releases", "")
	if st != 202 {
		t.Fatalf("release: %d %v", st, m)
	}
	first := m["id"].(string)
	// The review page shows the build: progress, a cancel button, no
	// second build form, and it refreshes itself.
	w := &tableWorld{sessions: map[string]*caller{}}
	w.webSessions(t, srv.URL, creds)
	resp, err := w.sessions["records"].client.Get(srv.URL + "/requests/" + reqID + "/review")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`data-state="building"`, `<progress max="100"`, `/releases/` + first + `/cancel`, `http-equiv="refresh"`} {
		if resp.StatusCode != 200 || !strings.Contains(string(page), want) {
			t.Fatalf("review page while building lacks %q: %d %s", want, resp.StatusCode, page)
		}
	}
	if strings.Contains(string(page), "Build the release package") {
		t.Fatal("review page offers a second build while one runs")
	}
	if st, _ = auditor.do("POST", "/api/v1/releases/"+first+"/cancel", ""); st != 403 {
		t.Fatalf("auditor cancelling: %d", st)
	}
	if st, m = maker.do("POST", "/api/v1/releases/"+first+"/cancel", ""); st != 200 || m["state"] != "failed" || m["error"] != "cancelled by user:records" {
		t.Fatalf("cancel: %d %v", st, m)
	}
	if m["job"].(map[string]any)["state"] != "cancelled" {
		t.Fatalf("job of a cancelled build: %v", m["job"])
	}
	if st, m = maker.do("POST", "/api/v1/releases/"+first+"/cancel", ""); st != 409 {
		t.Fatalf("cancelling twice: %d %v", st, m)
	}
	if _, m = maker.do("GET", base, ""); m["request"].(map[string]any)["state"] != "approved" {
		t.Fatalf("request after a cancelled build: %v", m)
	}
	// Corrupt the approved render in storage (same size, other bytes).
	path := filepath.Join(app.Config.Storage.FS.Root, "derivatives", render[0:2], render[2:4], render)
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(path, 0o644)
	junk := make([]byte, info.Size())
	rand.Read(junk)
	if err := os.WriteFile(path, junk, 0o444); err != nil {
		t.Fatal(err)
	}
	startReleaseBuilder(t, app)
	if st, m = maker.do("POST", base+"/releases", ""); st != 202 {
		t.Fatalf("release again: %d %v", st, m)
	}
	m = waitReleased(t, maker, m["id"].(string))
	if m["state"] != "failed" || !strings.Contains(m["error"].(string), "render report names "+render) {
		t.Fatalf("build of a corrupted clip: %v", m)
	}
	if job := m["job"].(map[string]any); job["attempt"] != 1.0 {
		t.Fatalf("a permanent failure was retried: %v", job)
	}
	if _, m = maker.do("GET", base, ""); m["request"].(map[string]any)["state"] != "approved" {
		t.Fatalf("request after a failed build: %v", m)
	}
	var n int
	if err := app.Pool.QueryRow(context.Background(), `SELECT count(*) FROM releases WHERE request_id = $1 AND state = 'released'`, reqID).Scan(&n); err != nil || n != 0 {
		t.Fatalf("released rows: %d %v", n, err)
	}
}

// startReleaseBuilder works release builds for an app built without
// workers: a river client on the app's database working only the releases
// queue, as a `demsd worker` process would.
func startReleaseBuilder(t *testing.T, app *App) {
	t.Helper()
	ws := river.NewWorkers()
	registerReleaseWorkers(app, ws)
	c, err := river.NewClient(riverpgxv5.New(app.Pool), &river.Config{Workers: ws, Logger: app.Logger,
		Queues: map[string]river.QueueConfig{release.Queue: {MaxWorkers: 1}}, FetchPollInterval: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		sctx, done := context.WithTimeout(context.Background(), 30*time.Second)
		defer done()
		c.Stop(sctx)
	})
}

// waitReleased polls a release until its build is done (released or
// failed) and returns it.
func waitReleased(t *testing.T, c *caller, id string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for {
		st, m := c.do("GET", "/api/v1/releases/"+id, "")
		if st != 200 {
			t.Fatalf("release %s: %d %v", id, st, m)
		}
		if m["state"] != "building" {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("release %s still building: %v", id, m)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestShareLinks: a link to a released package is created with its token
// shown once (stored hashed), opened without an account, its files and
// package downloaded whole and by range (resumable), every view and
// download recorded in the link's activity, the audit log, the timeline
// and the source custody; wrong passcodes answer 401 and lock the link;
// the download limit, expiry and revocation answer 410; the records
// officer sees the activity and revokes on the staff page.
func TestShareLinks(t *testing.T) {
	app, srv, creds := leadTestApp(t)
	ctx := context.Background()
	maker := newCaller(t, srv.URL, credUser(creds, "records", "").APIToken)
	checker := newCaller(t, srv.URL, secondRecordsOfficer(t, app, "checker"))
	reqID, rel := releasedPackage(t, app, maker, checker)
	relID := rel["id"].(string)
	shares := "/api/v1/releases/" + relID + "/shares"

	// Bad input.
	for body, want := range map[string]int{
		`{"recipient":""}`: 400, `{"recipient":"Sam","expires_in_days":365}`: 400, `{"recipient":"Sam","passcode":"123"}`: 400,
		`{"recipient":"Sam","max_downloads":0}`: 400, `{"recipient":"Sam","expires_at":"2020-01-01T00:00:00Z"}`: 400,
	} {
		if st, m := maker.do("POST", shares, body); st != want {
			t.Errorf("create %s: %d %v", body, st, m)
		}
	}
	// A failed release cannot be shared.
	failed := uuid.New()
	app.Pool.Exec(ctx, `INSERT INTO releases (id, request_id, state, created_by, created_at) VALUES ($1, $2, 'failed', 'user:records', now())`, failed, reqID)
	if st, m := maker.do("POST", "/api/v1/releases/"+failed.String()+"/shares", `{"recipient":"Sam"}`); st != 409 {
		t.Fatalf("sharing a failed release: %d %v", st, m)
	}

	st, m := maker.do("POST", shares, `{"recipient":"Sam Media (newsroom)","max_downloads":3}`)
	if st != 201 {
		t.Fatalf("create share: %d %v", st, m)
	}
	token := m["token"].(string)
	share := m["share"].(map[string]any)
	raw, _ := base64.RawURLEncoding.DecodeString(token)
	if len(raw) < 16 || !strings.HasSuffix(m["url"].(string), "/share/"+token) {
		t.Fatalf("token %q (%d bytes), url %v", token, len(raw), m["url"])
	}
	if exp, _ := time.Parse(time.RFC3339, share["expires_at"].(string)); exp.Sub(time.Now()) < 29*24*time.Hour || exp.Sub(time.Now()) > 31*24*time.Hour {
		t.Fatalf("default expiry %v", share["expires_at"])
	}
	var stored []byte
	app.Pool.QueryRow(ctx, `SELECT token_sha256 FROM release_shares WHERE id = $1`, share["id"]).Scan(&stored)
	if sum := sha256.Sum256([]byte(token)); !bytes.Equal(stored, sum[:]) {
		t.Fatalf("stored token is not its hash")
	}
	if st, m = maker.do("GET", shares, ""); st != 200 || strings.Contains(fmt.Sprint(m), token) {
		t.Fatalf("the token is listed again: %d %v", st, m)
	}

	// The recipient: no account.
	anon := newCaller(t, srv.URL, "")
	resp, body := shareGet(t, srv.URL+"/share/"+token, nil)
	if resp.StatusCode != 200 || !strings.Contains(body, "Sam Media (newsroom)") || !strings.Contains(body, rel["package_sha256"].(string)) ||
		!strings.Contains(body, "data/clips/") {
		t.Fatalf("recipient page: %d %s", resp.StatusCode, body)
	}
	st, m = anon.do("GET", "/api/v1/public/shares/"+token, "")
	if st != 200 || m["package"].(map[string]any)["sha256"] != rel["package_sha256"] {
		t.Fatalf("share JSON: %d %v", st, m)
	}
	var clipFile map[string]any
	for _, f := range m["files"].([]any) {
		if strings.HasPrefix(f.(map[string]any)["path"].(string), "data/clips/") {
			clipFile = f.(map[string]any)
		}
	}
	pkgURL := srv.URL + "/share/" + token + "/package"
	clipURL := srv.URL + clipFile["url"].(string)
	clipSize := int(clipFile["size"].(float64))
	// One file whole: the bytes are the clip's; download 1 of 3.
	resp, whole := fetchShare(t, app, clipURL, "")
	if resp.StatusCode != 200 || len(whole) != clipSize {
		t.Fatalf("file download: %d %d bytes", resp.StatusCode, len(whole))
	}
	if h := sha256.Sum256([]byte(whole)); hex.EncodeToString(h[:]) != clipFile["sha256"] {
		t.Fatalf("file bytes do not match the listed SHA-256")
	}
	// The old bypass: the whole package as "resumed" ranges, never from
	// byte 0 first. The ranges cover the package, so it counts (2 of 3).
	resp, tail := fetchShare(t, app, pkgURL, "bytes=1-")
	if resp.StatusCode != 206 {
		t.Fatalf("range from byte 1: %d", resp.StatusCode)
	}
	resp, head := fetchShare(t, app, pkgURL, "bytes=0-0")
	if h := sha256.Sum256([]byte(head + tail)); resp.StatusCode != 206 || hex.EncodeToString(h[:]) != rel["package_sha256"] {
		t.Fatalf("package by ranges: %d", resp.StatusCode)
	}
	if n := shareDownloads(t, app, share["id"].(string)); n != 2 {
		t.Fatalf("downloads after a whole file and a package by two ranges: %d, want 2", n)
	}
	// A player fetching the clip in 8 ranges: one download (3 of 3),
	// one custody event per source item, every range audited.
	custodyBefore, auditBefore := sharedCustody(t, app), auditedDownloads(t, app)
	var chunks []string
	for off, step := 0, (clipSize+7)/8; off < clipSize; off += step {
		resp, b := fetchShare(t, app, clipURL, fmt.Sprintf("bytes=%d-%d", off, min(off+step, clipSize)-1))
		if resp.StatusCode != 206 {
			t.Fatalf("clip range at %d: %d", off, resp.StatusCode)
		}
		chunks = append(chunks, b)
		if n := shareDownloads(t, app, share["id"].(string)); n != 2 && off+step < clipSize {
			t.Fatalf("counted before the ranges covered the clip: %d", n)
		}
	}
	if strings.Join(chunks, "") != whole || len(chunks) != 8 {
		t.Fatalf("clip by 8 ranges: %d chunks, bytes differ: %v", len(chunks), strings.Join(chunks, "") != whole)
	}
	if got := sharedCustody(t, app) - custodyBefore; got != 1 {
		t.Fatalf("custody events for one download in 8 ranges: %d, want 1", got)
	}
	if got := auditedDownloads(t, app) - auditBefore; got != 8 {
		t.Fatalf("audited range requests: %d, want 8", got)
	}
	if n := shareDownloads(t, app, share["id"].(string)); n != 3 {
		t.Fatalf("downloads: %d, want 3", n)
	}
	// The limit is reached: a new download is refused, whether it asks
	// for the whole file or for a range (no download is in progress).
	for _, rng := range []string{"", "bytes=0-99", "bytes=100-"} {
		if resp, body = fetchShare(t, app, pkgURL, rng); resp.StatusCode != 410 || !strings.Contains(body, "download limit") {
			t.Fatalf("download %q past the limit: %d %s", rng, resp.StatusCode, body)
		}
	}
	// Activity: the staff API and page, audit, timeline, custody.
	st, m = maker.do("GET", shares+"/"+share["id"].(string), "")
	evs := m["events"].([]any)
	var partial, complete, completed, refused int
	for _, e := range evs {
		e := e.(map[string]any)
		switch {
		case e["kind"] == "download" && e["complete"] == true:
			complete++
		case e["kind"] == "download" && e["bytes"].(float64) > 0:
			partial++
		case e["kind"] == "download_completed":
			completed++
		case e["kind"] == "refused":
			refused++
		}
		if e["address"] == "" || e["agent"] == "" {
			t.Fatalf("event without address or agent: %v", e)
		}
	}
	if st != 200 || complete != 1 || partial != 10 || completed != 3 || refused != 3 || m["share"].(map[string]any)["views"] != float64(2) ||
		m["share"].(map[string]any)["downloads"] != float64(3) {
		t.Fatalf("activity: %d complete %d partial %d completed %d refused %d %v", st, complete, partial, completed, refused, m)
	}
	// Custody: the first view of the session window (the page; the JSON
	// summary right after is not repeated) and the 3 completed downloads.
	if got := sharedCustody(t, app); got != 4 {
		t.Fatalf("custody shared events: %d, want 4 (1 view + 3 downloads)", got)
	}
	if got := auditedDownloads(t, app); got != 11 {
		t.Fatalf("audited download requests: %d, want 11", got)
	}
	// The timeline: 1 view, the package and the clip-by-ranges downloads
	// started (the whole clip started and completed in one request), 3
	// completed, 3 refusals; not one line per range.
	kinds := map[string]int{}
	_, m = maker.do("GET", "/api/v1/requests/"+reqID+"/timeline", "")
	for _, e := range m["events"].([]any) {
		kinds[e.(map[string]any)["kind"].(string)]++
	}
	if kinds["share_view"] != 1 || kinds["share_download"] != 2 || kinds["share_download_completed"] != 3 || kinds["share_refused"] != 3 {
		t.Fatalf("timeline share lines: %v", kinds)
	}

	// A download in progress may finish after the limit; a new one may
	// not start meanwhile; one idle past the window is new, and the bytes
	// it had served still count.
	st, m = maker.do("POST", shares, `{"recipient":"Resumer","max_downloads":2}`)
	if st != 201 {
		t.Fatalf("create share: %d %v", st, m)
	}
	rtoken, rid := m["token"].(string), m["share"].(map[string]any)["id"].(string)
	rpkg, rclip := srv.URL+"/share/"+rtoken+"/package", srv.URL+"/share/"+rtoken+"/files/"+clipFile["path"].(string)
	var got bytes.Buffer
	resp, b := fetchShare(t, app, rpkg, "bytes=0-999")
	got.WriteString(b)
	if resp, _ = fetchShare(t, app, rclip, ""); resp.StatusCode != 200 {
		t.Fatalf("second download while one is in progress: %d", resp.StatusCode)
	}
	// 1 completed + 1 in progress = the limit of 2: nothing new starts.
	if resp, body = fetchShare(t, app, rclip, "bytes=5-"); resp.StatusCode != 409 || !strings.Contains(body, "in progress") {
		t.Fatalf("new download while the rest is in progress: %d %s", resp.StatusCode, body)
	}
	resp, b = fetchShare(t, app, rpkg, "bytes=1000-1999")
	got.WriteString(b)
	// Idle for longer than the session window: the next range starts a
	// new download (admitted: still under the limit) and completes it
	// with the bytes served before.
	app.Pool.Exec(ctx, `UPDATE release_share_downloads SET last_at = now() - interval '2 hours' WHERE share_id = $1`, rid)
	resp, b = fetchShare(t, app, rpkg, "bytes=2000-")
	got.WriteString(b)
	if h := sha256.Sum256(got.Bytes()); resp.StatusCode != 206 || hex.EncodeToString(h[:]) != rel["package_sha256"] {
		t.Fatalf("resumed package: %d", resp.StatusCode)
	}
	if n := shareDownloads(t, app, rid); n != 2 {
		t.Fatalf("downloads of the resumed link: %d, want 2", n)
	}
	if resp, body = fetchShare(t, app, rpkg, "bytes=2000-"); resp.StatusCode != 410 {
		t.Fatalf("range after the limit with nothing in progress: %d %s", resp.StatusCode, body)
	}
	// A download that reached the limit while another was in progress:
	// the one in progress finishes.
	st, m = maker.do("POST", shares, `{"recipient":"Two files","max_downloads":2}`)
	ttoken, tid := m["token"].(string), m["share"].(map[string]any)["id"].(string)
	tpkg := srv.URL + "/share/" + ttoken + "/package"
	resp, head = fetchShare(t, app, tpkg, "bytes=0-4095")
	fetchShare(t, app, srv.URL+"/share/"+ttoken+"/files/"+clipFile["path"].(string), "")
	fetchShare(t, app, srv.URL+"/share/"+ttoken+"/files/"+clipFile["path"].(string), "bytes=0-")
	if n := shareDownloads(t, app, tid); n != 1 {
		t.Fatalf("downloads: %d, want 1", n)
	}
	resp, tail = fetchShare(t, app, tpkg, "bytes=4096-")
	if h := sha256.Sum256([]byte(head + tail)); resp.StatusCode != 206 || hex.EncodeToString(h[:]) != rel["package_sha256"] || shareDownloads(t, app, tid) != 2 {
		t.Fatalf("finishing the download in progress: %d, downloads %d", resp.StatusCode, shareDownloads(t, app, tid))
	}

	// Passcode: 401 without or wrong, locked after 5 wrong ones (even the
	// right passcode is refused while locked), opened with the right one.
	st, m = maker.do("POST", shares, `{"recipient":"Pat Attorney","passcode":"correct horse","expires_in_days":2}`)
	if st != 201 {
		t.Fatalf("create passcode share: %d %v", st, m)
	}
	ptoken, pshare := m["token"].(string), m["share"].(map[string]any)["id"].(string)
	if resp, body = shareGet(t, srv.URL+"/share/"+ptoken, nil); resp.StatusCode != 401 || !strings.Contains(body, "Passcode required") {
		t.Fatalf("passcode page: %d", resp.StatusCode)
	}
	if st, m = anon.do("GET", "/api/v1/public/shares/"+ptoken, ""); st != 401 || errCode(m) != "passcode_required" {
		t.Fatalf("JSON without passcode: %d %v", st, m)
	}
	if resp, _ = shareGet(t, srv.URL+"/share/"+ptoken+"/package", map[string]string{"X-Share-Passcode": "correct horse"}); resp.StatusCode != 200 {
		t.Fatalf("download with the passcode header: %d", resp.StatusCode)
	}
	for i := 1; i <= 5; i++ {
		resp, body = sharePost(t, srv.URL+"/share/"+ptoken, "passcode=wrong-guess")
		if resp.StatusCode != 401 {
			t.Fatalf("wrong passcode %d: %d", i, resp.StatusCode)
		}
	}
	if !strings.Contains(body, "locked until") {
		t.Fatalf("fifth wrong passcode does not lock: %s", body)
	}
	if resp, body = sharePost(t, srv.URL+"/share/"+ptoken, "passcode=correct+horse"); resp.StatusCode != 401 || !strings.Contains(body, "locked") {
		t.Fatalf("right passcode while locked: %d", resp.StatusCode)
	}
	app.Pool.Exec(ctx, `UPDATE release_shares SET locked_until = now() - interval '1 second' WHERE id = $1`, pshare)
	resp, body = sharePost(t, srv.URL+"/share/"+ptoken, "passcode=correct+horse")
	if resp.StatusCode != 200 || !strings.Contains(body, "Pat Attorney") {
		t.Fatalf("right passcode after the lockout (cookie, redirect to the page): %d %s", resp.StatusCode, body)
	}

	// Expired: 410 with a clear page.
	app.Pool.Exec(ctx, `UPDATE release_shares SET expires_at = now() - interval '1 minute' WHERE id = $1`, pshare)
	if resp, body = shareGet(t, srv.URL+"/share/"+ptoken, nil); resp.StatusCode != 410 || !strings.Contains(body, "expired") {
		t.Fatalf("expired link: %d %s", resp.StatusCode, body)
	}
	// Revoked on the staff page (web session, CSRF): 410.
	w := &tableWorld{sessions: map[string]*caller{}}
	w.webSessions(t, srv.URL, creds)
	web := w.sessions["records"]
	pr, err := web.client.Get(srv.URL + "/releases/" + relID + "/shares")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(pr.Body)
	pr.Body.Close()
	body = string(page)
	if pr.StatusCode != 200 || !strings.Contains(body, "Sam Media (newsroom)") || !strings.Contains(body, "complete") || !strings.Contains(body, "partial") {
		t.Fatalf("staff page: %d %s", pr.StatusCode, body)
	}
	pr, err = web.client.PostForm(srv.URL+"/releases/"+relID+"/shares/"+share["id"].(string)+"/revoke",
		url.Values{"csrf_token": {web.csrf}, "reason": {"sent to the wrong address"}})
	if err != nil {
		t.Fatal(err)
	}
	pr.Body.Close()
	if pr.StatusCode != 303 {
		t.Fatalf("revoke on the staff page: %d", pr.StatusCode)
	}
	if resp, body = shareGet(t, srv.URL+"/share/"+token, nil); resp.StatusCode != 410 || !strings.Contains(body, "revoked") {
		t.Fatalf("revoked link: %d %s", resp.StatusCode, body)
	}
	if st, m = maker.do("POST", shares+"/"+share["id"].(string)+"/revoke", `{"reason":"again"}`); st != 409 {
		t.Fatalf("revoking twice: %d %v", st, m)
	}
	// The tokens appear in no record: only their hashes are kept.
	for _, tok := range []string{token, ptoken} {
		var leaks int
		err := app.Pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM audit_log WHERE details::text LIKE '%' || $1 || '%')
			+ (SELECT count(*) FROM access_request_events WHERE details::text LIKE '%' || $1 || '%')
			+ (SELECT count(*) FROM custody_events WHERE details::text LIKE '%' || $1 || '%')
			+ (SELECT count(*) FROM release_share_events WHERE file LIKE '%' || $1 || '%' OR detail LIKE '%' || $1 || '%')`, tok).Scan(&leaks)
		if err != nil || leaks != 0 {
			t.Fatalf("a share token is in %d records (%v)", leaks, err)
		}
	}
	if resp, _ = shareGet(t, srv.URL+"/share/AAAAAAAAAAAAAAAAAAAAAA", nil); resp.StatusCode != 404 {
		t.Fatalf("unknown token: %d", resp.StatusCode)
	}
}

// shareDownloads is a link's count of completed downloads.
func shareDownloads(t *testing.T, app *App, id string) int {
	t.Helper()
	var n int
	if err := app.Pool.QueryRow(context.Background(), `SELECT downloads FROM release_shares WHERE id = $1`, id).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// fetchShare downloads through a link with an optional Range and waits
// until the server recorded the response: it records the bytes a
// response sent after sending them, so a fast client is ahead of it.
func fetchShare(t *testing.T, app *App, url, rng string) (*http.Response, string) {
	t.Helper()
	count := func() int {
		var n int
		if err := app.Pool.QueryRow(context.Background(), `SELECT count(*) FROM release_share_events WHERE kind IN ('download', 'refused')`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := count()
	resp, body := shareGet(t, url, map[string]string{"Range": rng})
	for deadline := time.Now().Add(10 * time.Second); count() == before; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("GET %s (%s): %d, not recorded", url, rng, resp.StatusCode)
		}
	}
	return resp, body
}

// sharedCustody counts the custody events of share activity.
func sharedCustody(t *testing.T, app *App) int {
	t.Helper()
	var n int
	if err := app.Pool.QueryRow(context.Background(), `SELECT count(*) FROM custody_events WHERE action = 'shared'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// auditedDownloads counts the audited download requests (one per
// response, whatever its range).
func auditedDownloads(t *testing.T, app *App) int {
	t.Helper()
	var n int
	if err := app.Pool.QueryRow(context.Background(), `SELECT count(*) FROM audit_log
		WHERE event_type = 'release_share' AND (details::jsonb)->>'kind' = 'download'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func shareGet(t *testing.T, url string, headers map[string]string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	for k, v := range headers {
		if v != "" {
			req.Header.Set(k, v)
		}
	}
	req.Header.Set("User-Agent", "share-test/1.0")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// sharePost posts a form with a cookie jar (the passcode cookie) and
// follows the redirect.
func sharePost(t *testing.T, url, form string) (*http.Response, string) {
	t.Helper()
	resp, err := shareClient.Post(url, "application/x-www-form-urlencoded", strings.NewReader(form))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

var shareClient = func() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar}
}()

// TestReleaseCLI drives the workflow with `dems request ...` (CGO-free):
// submit, the maker's approval refused with the reason, reject with a
// region comment, approve by a second officer, release with the package
// downloaded and verified by `dems verify --server`, share, list, revoke.
func TestReleaseCLI(t *testing.T) {
	app, srv, creds := leadTestApp(t)
	startReleaseBuilder(t, app)
	makerTok := credUser(creds, "records", "").APIToken
	checkerTok := secondRecordsOfficer(t, app, "checker")
	maker := newCaller(t, srv.URL, makerTok)
	bin := buildDems(t)
	run := func(token string, args ...string) (string, error) {
		out, err := exec.Command(bin, append([]string{"--server", srv.URL, "--token", token}, args...)...).CombinedOutput()
		return string(out), err
	}
	item := ingestedItem(t, app, "north", "N1001")
	_, m := maker.do("POST", "/api/v1/requests", `{"requester_name":"Cli User","requester_type":"public","contact":"c@example.org","description":"d","channel":"email"}`)
	number := m["request"].(map[string]any)["tracking_number"].(string)
	id := m["request"].(map[string]any)["id"].(string)
	base := "/api/v1/requests/" + id
	maker.do("POST", base+"/transition", `{"state":"assigned","assignee":"records"}`)
	maker.do("POST", base+"/transition", `{"state":"searching"}`)
	_, m = maker.do("POST", base+"/clips", `{"evidence_id":"`+item.String()+`","in_ms":0,"out_ms":1000}`)
	clipID := m["clip"].(map[string]any)["id"].(string)
	spec := `{"version":1,"clip":{"source":"` + item.String() + `"},"regions":[{"id":"face-1","shape":"ellipse","effect":{"type":"blur"},"reason":"b(7)(C)","origin":"manual","keyframes":[{"time":0.2,"x":10,"y":10,"width":40,"height":50}]}]}`
	maker.do("PUT", base+"/clips/"+clipID+"/spec", `{"base_version":0,"spec":`+spec+`}`)
	maker.do("POST", base+"/transition", `{"state":"redacting"}`)
	recordRender(t, app, uuid.MustParse(clipID), 1)

	out, err := run(makerTok, "--json", "request", "submit", number, clipID, "--note", "ready")
	var rv cliReview
	if err != nil || json.Unmarshal([]byte(out), &rv) != nil || rv.State != "pending" {
		t.Fatalf("dems request submit: %v %s", err, out)
	}
	if out, err = run(makerTok, "request", "approve", number, clipID); err == nil || !strings.Contains(out, "separation of duties") {
		t.Fatalf("maker approving through dems: %v %s", err, out)
	}
	if out, err = run(checkerTok, "request", "reject", number, clipID, "--at", "face-1:blur misses the chin", "--at", "0.2-0.5:check again"); err != nil || !strings.Contains(out, "rejected by user:checker") {
		t.Fatalf("dems request reject: %v %s", err, out)
	}
	_, m = maker.do("GET", base+"/reviews", "")
	if c := m["reviews"].([]any)[0].(map[string]any)["comments"].([]any); len(c) != 2 || c[0].(map[string]any)["region"] != "face-1" || c[1].(map[string]any)["end"] != 0.5 {
		t.Fatalf("region comments: %v", m)
	}
	if out, err = run(makerTok, "request", "submit", number, clipID); err != nil {
		t.Fatalf("resubmit: %v %s", err, out)
	}
	if out, err = run(checkerTok, "request", "approve", number, clipID, "--comment", "ok now"); err != nil || !strings.Contains(out, "approved") {
		t.Fatalf("dems request approve: %v %s", err, out)
	}
	pkg := filepath.Join(t.TempDir(), "package.zip")
	out, err = run(makerTok, "--json", "request", "release", number, "--output", pkg, "--letter", "Enclosed.")
	var rel cliRelease
	if err != nil || json.Unmarshal([]byte(out), &rel) != nil || rel.State != "released" {
		t.Fatalf("dems request release: %v %s", err, out)
	}
	pins := filepath.Join(t.TempDir(), "pins")
	if out, err := exec.Command(bin, "verify", "--server", srv.URL, "--pin-dir", pins, pkg).CombinedOutput(); err != nil {
		t.Fatalf("dems verify of the CLI's download: %v %s", err, out)
	}
	out, err = run(makerTok, "--json", "request", "share", rel.ID, "--recipient", "Cli User", "--days", "7", "--max-downloads", "2")
	var sh struct {
		Share struct{ ID string } `json:"share"`
		URL   string              `json:"url"`
	}
	if err != nil || json.Unmarshal([]byte(out), &sh) != nil || !strings.Contains(sh.URL, "/share/") {
		t.Fatalf("dems request share: %v %s", err, out)
	}
	if out, err = run(makerTok, "request", "shares", rel.ID); err != nil || !strings.Contains(out, "Cli User") || !strings.Contains(out, "active") {
		t.Fatalf("dems request shares: %v %s", err, out)
	}
	if out, err = run(makerTok, "request", "revoke", rel.ID, sh.Share.ID); err == nil {
		t.Fatalf("revoke without a reason: %s", out)
	}
	if out, err = run(makerTok, "request", "revoke", rel.ID, sh.Share.ID, "--reason", "test"); err != nil || !strings.Contains(out, "revoked") {
		t.Fatalf("dems request revoke: %v %s", err, out)
	}
	if out, err = run(makerTok, "request", "shares", rel.ID); err != nil || !strings.Contains(out, "revoked") {
		t.Fatalf("shares after revoke: %v %s", err, out)
	}
}

// cliReview and cliRelease mirror what `dems --json` prints.
type cliReview struct {
	ID    string `json:"id"`
	State string `json:"state"`
}

type cliRelease struct {
	ID    string `json:"id"`
	State string `json:"state"`
}

// TestReviewVoidedBySpecSave: a spec saved after a clip was submitted
// voids its review (the database trigger, whoever saves), so an approval
// can only ever bind the version that was reviewed.
func TestReviewVoidedBySpecSave(t *testing.T) {
	app, srv, creds := leadTestApp(t)
	maker := newCaller(t, srv.URL, credUser(creds, "records", "").APIToken)
	checker := newCaller(t, srv.URL, secondRecordsOfficer(t, app, "checker"))
	_, m := maker.do("POST", "/api/v1/requests", `{"requester_name":"V","requester_type":"public","contact":"v@example.org","description":"d","channel":"email"}`)
	base := "/api/v1/requests/" + m["request"].(map[string]any)["id"].(string)
	maker.do("POST", base+"/transition", `{"state":"assigned","assignee":"records"}`)
	maker.do("POST", base+"/transition", `{"state":"searching"}`)
	var clips []string
	for i := 0; i < 2; i++ {
		item := ingestedItem(t, app, "north", "N1001")
		_, m = maker.do("POST", base+"/clips", `{"evidence_id":"`+item.String()+`","in_ms":0,"out_ms":1000}`)
		clips = append(clips, m["clip"].(map[string]any)["id"].(string))
	}
	spec := `{"version":1,"clip":{"source":"x"},"regions":[{"id":"face-1","shape":"ellipse","effect":{"type":"blur"},"reason":"b(7)(C)","origin":"manual","keyframes":[{"time":0.2,"x":10,"y":10,"width":40,"height":50}]}]}`
	maker.do("PUT", base+"/clips/"+clips[0]+"/spec", `{"base_version":0,"spec":`+spec+`}`)
	maker.do("POST", base+"/transition", `{"state":"redacting"}`)
	recordRender(t, app, uuid.MustParse(clips[0]), 1)
	st, m := maker.do("POST", base+"/clips/"+clips[0]+"/review", "")
	if st != 201 {
		t.Fatalf("submit: %d %v", st, m)
	}
	reviewID := m["id"].(string)
	// One clip is not submitted yet: the request stays redacting, and a
	// spec can still be saved; that voids the submitted review.
	if _, m = maker.do("GET", base, ""); m["request"].(map[string]any)["state"] != "redacting" {
		t.Fatalf("request with an unsubmitted clip: %v", m["request"])
	}
	if st, m = checker.do("PUT", base+"/clips/"+clips[0]+"/spec", `{"base_version":1,"spec":`+strings.Replace(spec, `"x":10`, `"x":12`, 1)+`}`); st != 201 {
		t.Fatalf("save v2: %d %v", st, m)
	}
	_, m = maker.do("GET", base+"/reviews", "")
	r := m["reviews"].([]any)[0].(map[string]any)
	if r["state"] != "voided" || !strings.Contains(r["void_reason"].(string), "spec version 2 saved by user:checker") {
		t.Fatalf("review after a spec save: %v", r)
	}
	third := newCaller(t, srv.URL, secondRecordsOfficer(t, app, "third"))
	if st, m = third.do("POST", base+"/reviews/"+reviewID+"/approve", ""); st != 409 || !strings.Contains(fmt.Sprint(m), "voided") {
		t.Fatalf("approving a voided review: %d %v", st, m)
	}
	// v2 is not rendered: it cannot be submitted until it is.
	if st, m = maker.do("POST", base+"/clips/"+clips[0]+"/review", ""); st != 409 || !strings.Contains(fmt.Sprint(m), "spec version 1, the spec is at version 2") {
		t.Fatalf("submitting an unrendered version: %d %v", st, m)
	}
	// The checker now authored v2: they may no longer approve this clip.
	recordRender(t, app, uuid.MustParse(clips[0]), 2)
	_, m = maker.do("POST", base+"/clips/"+clips[0]+"/review", "")
	if st, m = checker.do("POST", base+"/reviews/"+m["id"].(string)+"/approve", ""); st != 403 || !strings.Contains(fmt.Sprint(m), "authored spec version 2") {
		t.Fatalf("an editor approving: %d %v", st, m)
	}
}
