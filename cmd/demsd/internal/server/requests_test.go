package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opendems/opendems/evidence/custody"
)

// TestRequestAPI walks the request floor through the assembled server:
// public intake with its rate limit and status page, staff transitions
// refused out of order with the allowed states named, a clip linked (in
// the item's custody), the clip JSON the editor opens, spec saves with the
// stale-save conflict, and bad input answered with clear 400s and 413s.
func TestRequestAPI(t *testing.T) {
	app, srv, creds := leadTestApp(t)
	ctx := context.Background()
	records := newCaller(t, srv.URL, credUser(creds, "records", "").APIToken)
	public := newCaller(t, srv.URL, "")

	// Public intake: tracking number and status code; the status page
	// shows state and due date only; floods get 429.
	st, m := public.do("POST", "/api/v1/public/requests", `{"requester_name":"Pat Q. Public","requester_type":"public",
		"contact":"pat@example.org","description":"Video of the crash at 5th and Main on 1 December"}`)
	if st != 201 {
		t.Fatalf("public intake: %d %v", st, m)
	}
	number, code := m["tracking_number"].(string), m["status_code"].(string)
	if !strings.HasPrefix(number, "PAR-") || len(code) != 19 || m["due_date"] == "" {
		t.Fatalf("receipt %v", m)
	}
	st, m = public.do("POST", "/api/v1/public/requests/status", fmt.Sprintf(`{"tracking_number":%q,"status_code":%q}`, number, code))
	if st != 200 || m["state"] != "received" || m["due_date"] == "" || len(m) != 4 {
		t.Fatalf("status: %d %v", st, m)
	}
	if st, _ = public.do("POST", "/api/v1/public/requests/status", fmt.Sprintf(`{"tracking_number":%q,"status_code":"AAAA-AAAA-AAAA-AAAA"}`, number)); st != 404 {
		t.Fatalf("wrong status code: %d", st)
	}
	if st, m = public.do("POST", "/api/v1/public/requests", `{"requester_name":"x","requester_type":"robot","contact":"c","description":"d"}`); st != 400 {
		t.Fatalf("bad public intake: %d %v", st, m)
	}
	limited := false
	for i := 0; i < 10 && !limited; i++ {
		st, m = public.do("POST", "/api/v1/public/requests", `{"requester_name":"Flood","requester_type":"public","contact":"f@example.org","description":"again"}`)
		limited = st == 429
	}
	if !limited || !strings.Contains(fmt.Sprint(m), "try again in") {
		t.Fatalf("intake flood not limited: %d %v", st, m)
	}

	// Staff: find the public request on the dashboard and work it.
	st, m = records.do("GET", "/api/v1/requests?open=true", "")
	if st != 200 {
		t.Fatalf("dashboard: %d %v", st, m)
	}
	var id string
	for _, r := range m["requests"].([]any) {
		if r.(map[string]any)["tracking_number"] == number {
			id = r.(map[string]any)["id"].(string)
		}
	}
	if id == "" {
		t.Fatalf("public request %s not on the dashboard: %v", number, m)
	}
	base := "/api/v1/requests/" + id
	st, m = records.do("POST", base+"/transition", `{"state":"released"}`)
	if st != 409 || !strings.Contains(fmt.Sprint(m), "allowed: assigned") || m["error"].(map[string]any)["code"] != "transition_not_allowed" {
		t.Fatalf("out of order: %d %v", st, m)
	}
	if st, m = records.do("POST", base+"/transition", `{"state":"assigned","assignee":"records"}`); st != 200 {
		t.Fatalf("assign: %d %v", st, m)
	}
	if st, m = records.do("POST", base+"/transition", `{"state":"searching"}`); st != 200 {
		t.Fatalf("search: %d %v", st, m)
	}
	if st, m = records.do("POST", base+"/extend", `{"days":3,"reason":""}`); st != 400 {
		t.Fatalf("extension without reason: %d %v", st, m)
	}
	if st, m = records.do("POST", base+"/transition", `{"state":"denied","exemptions":["b(42)"]}`); st != 400 || !strings.Contains(fmt.Sprint(m), "unknown exemption code") {
		t.Fatalf("unknown exemption: %d %v", st, m)
	}
	if st, m = records.do("POST", base+"/pause", `{"kind":"requester","reason":"`+strings.Repeat("x", 3000)+`"}`); st != 413 {
		t.Fatalf("oversized reason: %d %v", st, m)
	}

	item := insertItem(t, app, "north", "N1001")
	if st, m = records.do("POST", base+"/clips", `{"evidence_id":"`+item.String()+`","in_ms":0,"out_ms":800}`); st != 201 {
		t.Fatalf("add clip: %d %v", st, m)
	}
	clipID := m["clip"].(map[string]any)["id"].(string)
	// Custody: the link, then retention's hold for the open request.
	events, err := custody.Events(ctx, app.Pool, item)
	if err != nil || len(events) < 2 || events[0].Action != custody.ActionRequestClipLinked || events[0].Actor != "user:records" ||
		!strings.Contains(string(events[0].Details), number) || !strings.Contains(string(events[1].Details), `"access_request"`) {
		t.Fatalf("custody after linking: %v %+v", err, events)
	}
	clipPath := base + "/clips/" + clipID
	st, m = records.do("GET", clipPath, "")
	if st != 200 || m["spec"] != nil || m["spec_version"] != float64(0) || m["item_id"] != item.String() || m["in"] != float64(0) || m["out"] != 0.8 ||
		m["proxy_url"] != "/api/v1/evidence/"+item.String()+"/proxy" ||
		m["sprite_url"] != "/api/v1/evidence/"+item.String()+"/sprite" || len(m["exemptions"].([]any)) < 20 {
		t.Fatalf("clip view: %d %v", st, m)
	}
	spec := `{"version":1,"clip":{"source":"` + item.String() + `"},"regions":[{"shape":"ellipse","effect":{"type":"blur"},"reason":"b(7)(C)","origin":"manual","keyframes":[{"time":0.2,"x":10,"y":10,"width":40,"height":50}]}]}`
	if st, m = records.do("PUT", clipPath+"/spec", `{"base_version":0,"spec":`+strings.Replace(spec, "b(7)(C)", "privacy", 1)+`}`); st != 400 ||
		!strings.Contains(fmt.Sprint(m), "regions[0].reason") {
		t.Fatalf("spec with an unknown code: %d %v", st, m)
	}
	if st, m = records.do("PUT", clipPath+"/spec", `{"base_version":0,"spec":`+strings.Replace(spec, `"shape":"ellipse"`, `"shape":"star"`, 1)+`}`); st != 400 ||
		!strings.Contains(fmt.Sprint(m), "regions[0].shape") {
		t.Fatalf("invalid spec: %d %v", st, m)
	}
	if st, m = records.do("PUT", clipPath+"/spec", `{"base_version":0,"spec":`+spec+`}`); st != 201 || m["version"] != float64(1) {
		t.Fatalf("save spec: %d %v", st, m)
	}
	st, m = records.do("PUT", clipPath+"/spec", `{"base_version":0,"spec":`+spec+`}`)
	e, _ := m["error"].(map[string]any)
	if st != 409 || e["code"] != "stale_spec" || !strings.Contains(e["message"].(string), "edited by records at") || e["current_version"] != float64(1) {
		t.Fatalf("stale save: %d %v", st, m)
	}
	st, m = records.do("GET", clipPath, "")
	if st != 200 || m["spec_version"] != float64(1) || m["spec"].(map[string]any)["regions"] == nil || m["spec_info"].(map[string]any)["author"] != "user:records" {
		t.Fatalf("clip view with spec: %d %v", st, m)
	}
	if st, m = records.do("POST", clipPath+"/jobs", `{"kind":"render","spec_version":7}`); st != 400 {
		t.Fatalf("render of a missing version: %d %v", st, m)
	}
	if st, m = records.do("POST", clipPath+"/jobs", `{"kind":"detect"}`); st != 202 || m["job"].(map[string]any)["state"] != "available" {
		t.Fatalf("start detect: %d %v", st, m)
	}
	job := m["job"].(map[string]any)["id"].(float64)
	if st, m = records.do("POST", fmt.Sprintf("%s/jobs/%.0f/cancel", clipPath, job), ""); st != 200 || m["job"].(map[string]any)["state"] != "cancelled" {
		t.Fatalf("cancel: %d %v", st, m)
	}
	// The auditor reads, never writes.
	auditor := newCaller(t, srv.URL, credUser(creds, "auditor", "").APIToken)
	if st, _ = auditor.do("GET", base+"/timeline", ""); st != 200 {
		t.Fatalf("auditor timeline: %d", st)
	}
	if st, _ = auditor.do("PUT", clipPath+"/spec", `{"base_version":1,"spec":`+spec+`}`); st != 403 {
		t.Fatalf("auditor saving a spec: %d", st)
	}
	// Views are audited.
	var views int
	app.Pool.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE event_type = 'request_viewed' AND actor = 'user:records'`).Scan(&views)
	if views < 3 {
		t.Fatalf("%d request views audited", views)
	}

	// dems request ... drives the same API, CGO-free.
	bin := filepath.Join(t.TempDir(), "dems")
	build := exec.Command("go", "build", "-o", bin, "github.com/opendems/opendems/cmd/dems")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build dems: %v\n%s", err, out)
	}
	run := func(args ...string) (string, error) {
		out, err := exec.Command(bin, append([]string{"--server", srv.URL, "--token", credUser(creds, "records", "").APIToken}, args...)...).CombinedOutput()
		return string(out), err
	}
	out, err := run("--json", "request", "create", "--requester", "Dana Attorney", "--type", "attorney", "--contact", "dana@law.example",
		"--description", "All footage of my client's arrest", "--channel", "mail", "--received", "2026-12-01")
	if err != nil {
		t.Fatalf("dems request create: %v %s", err, out)
	}
	var created struct {
		Request struct {
			ID             string `json:"id"`
			TrackingNumber string `json:"tracking_number"`
		} `json:"request"`
		StatusCode string `json:"status_code"`
	}
	if err := json.Unmarshal([]byte(out), &created); err != nil || created.StatusCode == "" {
		t.Fatalf("create output %q: %v", out, err)
	}
	n := created.Request.TrackingNumber
	if out, err = run("request", "transition", n, "searching"); err == nil || !strings.Contains(out, "allowed: assigned") {
		t.Fatalf("dems out-of-order transition: %v %s", err, out)
	}
	if out, err = run("request", "transition", n, "assigned", "--assignee", "records"); err != nil || !strings.Contains(out, "is assigned") {
		t.Fatalf("dems transition: %v %s", err, out)
	}
	if out, err = run("request", "clip", "add", n, item.String(), "--in", "0.1", "--out", "0.5"); err != nil || !strings.Contains(out, "linked clip") {
		t.Fatalf("dems clip add: %v %s", err, out)
	}
	if out, err = run("request", "list", "--open"); err != nil || !strings.Contains(out, n) || !strings.Contains(out, number) {
		t.Fatalf("dems request list: %v %s", err, out)
	}
	if out, err = run("--json", "request", "show", n); err != nil || !strings.Contains(out, `"in_ms": 100`) {
		t.Fatalf("dems request show: %v %s", err, out)
	}
}

// TestRequestJobsThroughAPI runs the redaction work of a clip through the
// assembled server with its workers: box tracking on a real recording, a
// render job with progress to completion, and the output downloaded whole
// (checked against its SHA-256) and by range for playback, each download
// in the item's custody.
func TestRequestJobsThroughAPI(t *testing.T) {
	e := newReviewEnv(t)
	ctx := context.Background()
	records := newCaller(t, e.srv.URL, credUser(e.creds, "records", "").APIToken)
	st, m := records.do("POST", "/api/v1/requests", `{"requester_name":"Ann Reporter","requester_type":"media","contact":"ann@example.org","description":"the stop","channel":"email"}`)
	if st != 201 {
		t.Fatalf("create: %d %v", st, m)
	}
	base := "/api/v1/requests/" + m["request"].(map[string]any)["id"].(string)
	for _, body := range []string{`{"state":"assigned","assignee":"records"}`, `{"state":"searching"}`} {
		if st, m = records.do("POST", base+"/transition", body); st != 200 {
			t.Fatalf("transition %s: %d %v", body, st, m)
		}
	}
	item := e.items[0]
	if st, m = records.do("POST", base+"/clips", `{"evidence_id":"`+item.String()+`","in_ms":1000,"out_ms":5000}`); st != 201 {
		t.Fatalf("add clip: %d %v", st, m)
	}
	clipPath := base + "/clips/" + m["clip"].(map[string]any)["id"].(string)

	// Box tracking is a job: a box drawn at 2 s becomes keyframes within
	// the clip, polled from the job's outputs.
	if st, m = records.do("POST", clipPath+"/track", `{"time":9,"box":{"x":10,"y":10,"width":40,"height":40}}`); st != 400 {
		t.Fatalf("track outside the clip: %d %v", st, m)
	}
	st, m = records.do("POST", clipPath+"/track", `{"time":2,"box":{"x":120,"y":80,"width":48,"height":48}}`)
	if st != 202 {
		t.Fatalf("track: %d %v", st, m)
	}
	trackPath := fmt.Sprintf("%s/jobs/%d", clipPath, int64(m["job"].(map[string]any)["id"].(float64)))
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(200 * time.Millisecond) {
		if st, m = records.do("GET", trackPath, ""); st != 200 {
			t.Fatalf("poll track job: %d %v", st, m)
		}
		job := m["job"].(map[string]any)
		if job["state"] == "completed" {
			break
		}
		if job["state"] == "cancelled" || job["state"] == "discarded" || time.Now().After(deadline) {
			t.Fatalf("track job: %v", job)
		}
	}
	outs, _ := m["outputs"].([]any)
	if len(outs) != 1 || outs[0].(map[string]any)["kind"] != "track" {
		t.Fatalf("track job outputs: %v", m)
	}
	m = outs[0].(map[string]any)["details"].(map[string]any)["result"].(map[string]any)
	ks, _ := m["keyframes"].([]any)
	if len(ks) < 2 || m["start"].(float64) < 0.99 || m["end"].(float64) > 5.01 {
		t.Fatalf("tracked %v", m)
	}
	first := ks[0].(map[string]any)
	spec := fmt.Sprintf(`{"version":1,"clip":{"source":%q},"regions":[{"shape":"rectangle","effect":{"type":"pixelate","block_size":8},"reason":"TX-552.130","origin":"manual","keyframes":%s}]}`,
		item.String(), mustJSON(t, ks))
	if st, m = records.do("PUT", clipPath+"/spec", `{"base_version":0,"spec":`+spec+`}`); st != 201 {
		t.Fatalf("save tracked region: %d %v (first keyframe %v)", st, m, first)
	}
	if st, m = records.do("POST", clipPath+"/jobs", `{"kind":"render"}`); st != 202 {
		t.Fatalf("render: %d %v", st, m)
	}
	jobID := m["job"].(map[string]any)["id"].(float64)
	deadline := time.Now().Add(2 * time.Minute)
	for {
		st, m = records.do("GET", clipPath+"/jobs", "")
		var job map[string]any
		for _, j := range m["jobs"].([]any) {
			if j.(map[string]any)["id"].(float64) == jobID {
				job = j.(map[string]any)
			}
		}
		if job["state"] == "completed" && job["progress"].(float64) == 100 {
			break
		}
		if job["state"] == "cancelled" || job["state"] == "discarded" || time.Now().After(deadline) {
			t.Fatalf("render job: %v", job)
		}
		time.Sleep(200 * time.Millisecond)
	}
	st, m = records.do("GET", clipPath+"/outputs", "")
	var render, leak map[string]any
	for _, o := range m["outputs"].([]any) {
		switch o.(map[string]any)["kind"] {
		case "render":
			render = o.(map[string]any)
		case "leak_check":
			leak = o.(map[string]any)
		}
	}
	if render == nil || leak == nil || render["spec_version"] != float64(1) || render["source_sha256"] == "" {
		t.Fatalf("outputs: %v", m)
	}
	url := e.srv.URL + clipPath + "/outputs/" + render["id"].(string)
	get := func(rng string) (*http.Response, []byte) {
		req, _ := http.NewRequest("GET", url, nil)
		req.Header.Set("Authorization", "Bearer "+credUser(e.creds, "records", "").APIToken)
		if rng != "" {
			req.Header.Set("Range", rng)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}
	resp, body := get("")
	sum := sha256.Sum256(body)
	if resp.StatusCode != 200 || hex.EncodeToString(sum[:]) != render["sha256"] || !strings.HasPrefix(resp.Header.Get("Content-Disposition"), "attachment") {
		t.Fatalf("download: %d %s, %d bytes", resp.StatusCode, resp.Header.Get("Content-Disposition"), len(body))
	}
	resp, part := get("bytes=0-99")
	if resp.StatusCode != 206 || len(part) != 100 || !bytes.Equal(part, body[:100]) {
		t.Fatalf("range: %d, %d bytes", resp.StatusCode, len(part))
	}
	// The editor's clip view: the media facts of the transcoded item, the
	// spec document, and the preview once one is rendered.
	if st, m = records.do("POST", clipPath+"/jobs", `{"kind":"preview"}`); st != 202 {
		t.Fatalf("preview: %d %v", st, m)
	}
	deadline = time.Now().Add(2 * time.Minute)
	for {
		st, m = records.do("GET", clipPath, "")
		if st != 200 {
			t.Fatalf("clip view: %d %v", st, m)
		}
		if m["preview"] != nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	fps, _ := m["fps"].(map[string]any)
	sprite, _ := m["sprite"].(map[string]any)
	preview, _ := m["preview"].(map[string]any)
	if fps == nil || fps["num"].(float64) <= 0 || m["width"] != float64(320) || m["height"] != float64(240) || m["frame_count"].(float64) < 100 ||
		sprite == nil || len(sprite["tiles"].([]any)) == 0 || m["in"] != float64(1) || m["out"] != float64(5) ||
		m["spec_version"] != float64(1) || m["spec"].(map[string]any)["regions"] == nil || preview == nil || preview["spec_version"] != float64(1) {
		t.Fatalf("clip view for the editor: %v", m)
	}
	if st, _ := records.do("GET", strings.TrimPrefix(preview["url"].(string), ""), ""); st != 200 {
		t.Fatalf("preview url: %d", st)
	}

	// The redaction throughput of both jobs (and the render's leak
	// check) is on /metrics: 4 s of media at the recording's frame rate.
	rate := fps["num"].(float64) / fps["den"].(float64)
	fams := scrape(t, e.srv.URL)
	for _, job := range []string{"render", "preview", "leak_check"} {
		lbl := map[string]string{"job": job}
		media, _ := metricValue(fams, "opendems_redaction_media_seconds_total", lbl)
		frames, _ := metricValue(fams, "opendems_redaction_frames_total", lbl)
		busy, _ := metricValue(fams, "opendems_redaction_processing_seconds_total", lbl)
		if media < 3.9 || media > 4.1 || frames < 4*rate-2 || frames > 4*rate+2 || busy <= 0 {
			t.Errorf("redaction metrics of %s: %v s of media, %v frames (want about %v), %v s busy", job, media, frames, 4*rate, busy)
		}
	}
	if v, _ := metricValue(fams, "opendems_job_run_seconds", map[string]string{"kind": "redaction"}); v < 2 {
		t.Errorf("%v redaction job runs timed", v)
	}

	events, err := custody.Events(ctx, e.app.Pool, item)
	if err != nil {
		t.Fatal(err)
	}
	downloads, renders := 0, 0
	for _, ev := range events {
		switch ev.Action {
		case custody.ActionRequestOutputDownloaded:
			downloads++
		case custody.ActionRedactionCreated:
			renders++
		}
	}
	if downloads != 3 || renders != 2 { // whole, range and preview; spec saved + render recorded
		t.Fatalf("custody: %d downloads, %d redaction events", downloads, renders)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
