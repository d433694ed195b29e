package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/opendems/opendems/evidence/api/apiclient"
)

// TestGeneratedClient drives the assembled server through the client
// generated from its OpenAPI description (what dems uses), over the
// operations the other flows do not reach: the upload protocol, the
// request's clock, withholding and clip removal, categories, flags and
// holds, and refusals as typed errors. contractServer validates every
// answer against the description on the way.
func TestGeneratedClient(t *testing.T) {
	app, srv, creds := leadTestApp(t)
	ctx := context.Background()
	as := func(tok string) *apiclient.Client {
		return &apiclient.Client{BaseURL: srv.URL, Token: tok, HTTP: &http.Client{Timeout: 30 * time.Second}}
	}
	officer := as(credUser(creds, "officer", "north").APIToken)
	records := as(credUser(creds, "records", "").APIToken)
	admin := as(credUser(creds, "admin", "").APIToken)

	// Upload: create, where it stands, one chunk, commit.
	data := randomClip()
	sum := sha256.Sum256(data)
	recorded := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	sess, err := officer.CreateUploadSession(ctx, apiclient.CreateRequest{SHA256: hex.EncodeToString(sum[:]), Size: int64(len(data)),
		Filename: "clip.mp4", ContentType: "video/mp4", Metadata: apiclient.Metadata{OfficerID: "N1001", RecordedAt: &recorded}})
	if err != nil || sess.SessionID == "" {
		t.Fatalf("create upload session: %v %+v", err, sess)
	}
	if st, err := officer.GetUploadSession(ctx, sess.SessionID); err != nil || st.Offset != 0 || st.Size != int64(len(data)) {
		t.Fatalf("upload session: %v %+v", err, st)
	}
	ack, err := officer.PutUploadChunk(ctx, sess.SessionID, apiclient.PutUploadChunkParams{Offset: 0, XChunkSHA256: hex.EncodeToString(sum[:])}, bytes.NewReader(data))
	if err != nil || ack.Offset != int64(len(data)) {
		t.Fatalf("chunk: %v %+v", err, ack)
	}
	done, err := officer.CommitUpload(ctx, sess.SessionID)
	if err != nil || done.EvidenceID == "" || done.Receipt.EvidenceID != done.EvidenceID {
		t.Fatalf("commit: %v %+v", err, done)
	}
	it, err := officer.GetEvidence(ctx, done.EvidenceID)
	if err != nil || it.SHA256 != hex.EncodeToString(sum[:]) || it.OfficerID != "N1001" {
		t.Fatalf("the uploaded item: %v %+v", err, it)
	}

	// Refusals are typed errors with the server's status and code.
	var apiErr *apiclient.Error
	if _, err := officer.GetEvidence(ctx, uuid.NewString()); !errors.As(err, &apiErr) || apiErr.Status != 404 || apiErr.Code != "not_found" {
		t.Fatalf("a missing item: %v", err)
	}
	if _, err := officer.ListUsers(ctx); !errors.As(err, &apiErr) || apiErr.Status != 403 {
		t.Fatalf("an officer listing users: %v", err)
	}

	// Categories, flags and holds on the item.
	cats, err := officer.ListCategories(ctx)
	if err != nil || len(cats.Categories) == 0 {
		t.Fatalf("categories: %v %+v", err, cats)
	}
	if st, err := officer.SetCategories(ctx, it.ID, apiclient.NamesRequest{Categories: []string{cats.Categories[0].Name}, Reason: "client test"}); err != nil || len(st.Categories) != 1 {
		t.Fatalf("set categories: %v %+v", err, st)
	}
	if _, err := officer.SetFlags(ctx, it.ID, apiclient.NamesRequest{Flags: []string{}, Reason: "none"}); err != nil {
		t.Fatalf("set flags: %v", err)
	}
	held, err := records.PlaceItemHold(ctx, it.ID, apiclient.HoldRequest{Reason: "litigation"})
	if err != nil || held.Hold.ID == "" || !held.Status.LegalHold {
		t.Fatalf("place hold: %v %+v", err, held)
	}
	rel, err := records.ReleaseItemHold(ctx, it.ID, &apiclient.HoldRequest{Reason: "settled"})
	if err != nil || len(rel.Released) != 1 || rel.Status.LegalHold {
		t.Fatalf("release hold: %v %+v", err, rel)
	}
	// A purge before retention ends is refused, and so is cancelling none.
	if _, err := admin.SchedulePurge(ctx, it.ID, &apiclient.ReasonRequest{Reason: "too early"}); !errors.As(err, &apiErr) || apiErr.Status < 400 || apiErr.Status >= 500 {
		t.Fatalf("an early purge: %v", err)
	}
	if _, err := admin.CancelPurge(ctx, it.ID, nil); !errors.As(err, &apiErr) || apiErr.Status < 400 || apiErr.Status >= 500 {
		t.Fatalf("cancelling no purge: %v", err)
	}

	// A request's clock, a withholding and a clip removed.
	item := ingestedItem(t, app, "north", "N1001")
	created, err := records.CreateRequest(ctx, apiclient.Intake{RequesterName: "Cli Ent", RequesterType: "media", Contact: "c@example.org",
		Description: "footage", Channel: "email"})
	if err != nil || created.StatusCode == "" {
		t.Fatalf("create request: %v %+v", err, created)
	}
	id := created.Request.ID
	for _, to := range []apiclient.TransitionInput{{State: "assigned", Assignee: "records"}, {State: "searching"}} {
		if _, err := records.TransitionRequest(ctx, id, to); err != nil {
			t.Fatalf("transition %s: %v", to.State, err)
		}
	}
	if _, err := records.TransitionRequest(ctx, id, apiclient.TransitionInput{State: "released"}); !errors.As(err, &apiErr) || apiErr.Status != 409 || apiErr.Detail["allowed"] == nil {
		t.Fatalf("a transition out of order: %v", err)
	}
	paused, err := records.PauseRequest(ctx, id, apiclient.PauseBody{Kind: "requester", Reason: "which day?"})
	if err != nil || !paused.Request.Clock.Paused {
		t.Fatalf("pause: %v %+v", err, paused)
	}
	if r, err := records.ResumeRequest(ctx, id, apiclient.ReasonBody{Reason: "answered"}); err != nil || r.Request.Clock.Paused {
		t.Fatalf("resume: %v %+v", err, r)
	}
	ext, err := records.ExtendRequest(ctx, id, apiclient.ExtendBody{Days: 5, Reason: "voluminous"})
	if err != nil || ext.Request.Clock.ExtensionsLeft != 0 {
		t.Fatalf("extend: %v %+v", err, ext)
	}
	clip, err := records.AddRequestClip(ctx, id, apiclient.ClipInput{EvidenceID: item.String(), InMs: 0, OutMs: 1000})
	if err != nil {
		t.Fatalf("add clip: %v", err)
	}
	w, err := records.WithholdItem(ctx, id, apiclient.WithholdInput{EvidenceID: item.String(), Exemptions: []string{"b(7)(C)"}, Note: "a witness"})
	if err != nil {
		t.Fatalf("withhold: %v", err)
	}
	if err := records.EndWithholding(ctx, id, w.Withheld.ID, apiclient.ReasonBody{Reason: "consent"}); err != nil {
		t.Fatalf("end withholding: %v", err)
	}
	removed, err := records.RemoveRequestClip(ctx, id, clip.Clip.ID, apiclient.ReasonBody{Reason: "wrong camera"})
	if err != nil || removed.Clip.RemovedAt == nil {
		t.Fatalf("remove clip: %v %+v", err, removed)
	}
	view, err := records.GetRequest(ctx, id)
	if err != nil || view.Request == nil || len(view.Clips) != 1 || view.Clips[0].RemovedAt == nil {
		t.Fatalf("the request: %v %+v", err, view)
	}

	// A download is the answer itself.
	resp, err := records.DownloadOriginal(ctx, it.ID, apiclient.DownloadOriginalParams{})
	if err != nil {
		t.Fatalf("download original: %v", err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Equal(got, data) {
		t.Fatalf("downloaded %d bytes, not the original", len(got))
	}
}
