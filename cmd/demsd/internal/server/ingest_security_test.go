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
	"testing"
)

// upload runs the ingest protocol as token: create, (one) chunk, commit.
// It returns the create answer, the final status and the commit answer.
type uploadResult struct {
	createStatus int
	create       map[string]any
	commit       map[string]any
	commitStatus int
}

func upload(t *testing.T, base, token string, data []byte, officer string) uploadResult {
	t.Helper()
	sum := sha256.Sum256(data)
	send := func(method, path string, body io.Reader, hdr map[string]string) (int, map[string]any) {
		req, _ := http.NewRequest(method, base+path, body)
		req.Header.Set("Authorization", "Bearer "+token)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		b, _ := io.ReadAll(resp.Body)
		json.Unmarshal(b, &m)
		return resp.StatusCode, m
	}
	body, _ := json.Marshal(map[string]any{"sha256": hex.EncodeToString(sum[:]), "size": len(data), "filename": "clip.mp4",
		"content_type": "video/mp4", "metadata": map[string]any{"officer_id": officer}})
	var r uploadResult
	r.createStatus, r.create = send("POST", "/api/v1/ingest/sessions", bytes.NewReader(body), map[string]string{"Content-Type": "application/json"})
	id, _ := r.create["session_id"].(string)
	if r.createStatus >= 300 || id == "" {
		return r
	}
	cs := sha256.Sum256(data)
	if st, m := send("PUT", "/api/v1/ingest/sessions/"+id+"/chunks?offset=0", bytes.NewReader(data),
		map[string]string{"Content-Type": "application/octet-stream", "X-Chunk-SHA256": hex.EncodeToString(cs[:])}); st != 200 {
		t.Fatalf("chunk: %d %v", st, m)
	}
	r.commitStatus, r.commit = send("POST", "/api/v1/ingest/sessions/"+id+"/commit", nil, nil)
	return r
}

func randomClip() []byte {
	b := make([]byte, 4096)
	rand.Read(b)
	return b
}

func ingestedDetails(t *testing.T, a *App, evidenceID string) map[string]any {
	t.Helper()
	var d string
	if err := a.Pool.QueryRow(context.Background(), `SELECT details FROM custody_events WHERE evidence_id = $1 AND action = 'ingested'`, evidenceID).Scan(&d); err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	json.Unmarshal([]byte(d), &m)
	return m
}

// An uploader names only officers the policy lets them name; the basis
// is recorded in custody.
func TestUploadAttributionChecked(t *testing.T) {
	a, srv, creds := leadTestApp(t)
	officer := credUser(creds, "officer", "north").APIToken
	sgt := credUser(creds, "supervisor", "north").APIToken
	cases := []struct {
		who, token, badge string
		ok                bool
		basis             string
	}{
		{"officer, own badge", officer, "N1001", true, "own badge"},
		{"officer, another officer", officer, "S1001", false, ""},
		{"officer, a colleague of the unit", officer, "N2001", false, ""},
		{"supervisor, an officer of the unit", sgt, "N1001", true, "policy rule"},
		{"supervisor, another unit's officer", sgt, "S1001", false, ""},
		{"supervisor, unknown badge", sgt, "X9999", false, ""},
		{"dock, officer of its unit", creds.Dock.Token, "N1001", true, "officer of the dock's unit"},
		{"dock, another unit's officer", creds.Dock.Token, "S1001", false, ""},
		{"no officer", officer, "", true, "unattributed"},
	}
	for _, tc := range cases {
		r := upload(t, srv.URL, tc.token, randomClip(), tc.badge)
		if !tc.ok {
			if r.createStatus != http.StatusForbidden {
				t.Errorf("%s: %d %v", tc.who, r.createStatus, r.create)
			}
			continue
		}
		if r.commitStatus != 200 {
			t.Errorf("%s: create %d %v commit %d %v", tc.who, r.createStatus, r.create, r.commitStatus, r.commit)
			continue
		}
		d := ingestedDetails(t, a, r.commit["evidence_id"].(string))
		if d["officer_id"] != tc.badge || !bytes.HasPrefix([]byte(fmt.Sprint(d["attribution"])), []byte(tc.basis)) || d["attributed_by"] == "" {
			t.Errorf("%s: custody details %v", tc.who, d)
		}
	}
}

// Declaring the hash of another unit's item reveals nothing (no id, no
// size, no receipt) and writes nothing into its chain; only after the
// bytes are uploaded does the commit answer with the duplicate.
func TestDuplicateDeclarationDoesNotLeakAcrossUnits(t *testing.T) {
	a, srv, creds := leadTestApp(t)
	north := credUser(creds, "officer", "north").APIToken
	south := credUser(creds, "officer", "south").APIToken
	clip := randomClip()
	first := upload(t, srv.URL, north, clip, "N1001")
	if first.commitStatus != 200 {
		t.Fatalf("first upload %v %v", first.create, first.commit)
	}
	id := first.commit["evidence_id"].(string)
	events := func() int {
		var n int
		a.Pool.QueryRow(context.Background(), `SELECT count(*) FROM custody_events WHERE evidence_id = $1`, id).Scan(&n)
		return n
	}
	before := events()
	sum := sha256.Sum256(clip)
	body := fmt.Sprintf(`{"sha256":"%s","size":%d,"filename":"x.mp4"}`, hex.EncodeToString(sum[:]), len(clip))
	// Declaring it (size wrong too: no size oracle either).
	for _, b := range []string{body, fmt.Sprintf(`{"sha256":"%s","size":%d}`, hex.EncodeToString(sum[:]), len(clip)+1)} {
		c := newCaller(t, srv.URL, south)
		st, m := c.do("POST", "/api/v1/ingest/sessions", b)
		if st != 201 || m["duplicate"] == true || m["evidence_id"] != nil || m["receipt"] != nil {
			t.Fatalf("declaration answered %d %v", st, m)
		}
		c.do("DELETE", "/api/v1/ingest/sessions/"+m["session_id"].(string), "")
	}
	if n := events(); n != before {
		t.Fatalf("the north item's chain grew from %d to %d events", before, n)
	}
	// The same unit's uploader still learns of it at once (dock retries).
	if st, m := newCaller(t, srv.URL, north).do("POST", "/api/v1/ingest/sessions", body); st != 200 || m["duplicate"] != true {
		t.Fatalf("own duplicate: %d %v", st, m)
	}
	// With the bytes, the commit names the item.
	r := upload(t, srv.URL, south, clip, "S1001")
	if r.commitStatus != 200 || r.commit["evidence_id"] != id || r.commit["duplicate"] != true {
		t.Fatalf("commit with the bytes: %d %v", r.commitStatus, r.commit)
	}
}
