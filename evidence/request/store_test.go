package request_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/opendems/opendems/configs"
	"github.com/opendems/opendems/evidence"
	"github.com/opendems/opendems/evidence/custody"
	"github.com/opendems/opendems/evidence/pg/pgtest"
	"github.com/opendems/opendems/evidence/request"
)

// clock is the store's clock; tests move it.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// holds records what the store asked retention to hold.
type holds struct {
	mu     sync.Mutex
	opened map[string]bool
}

func (h *holds) OpenAccessRequest(_ context.Context, id uuid.UUID, ref, _ string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.opened[id.String()+" "+ref] = true
	return nil
}

func (h *holds) CloseAccessRequest(_ context.Context, id uuid.UUID, ref, _ string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.opened, id.String()+" "+ref)
	return nil
}

type bundle struct {
	db    *pgtest.DB
	store *request.Store
	clock *clock
	holds *holds
	unit  uuid.UUID
	rita  request.Actor
}

func setup(t *testing.T) *bundle {
	t.Helper()
	b := &bundle{db: pgtest.NewDB(t), clock: &clock{}, holds: &holds{opened: map[string]bool{}}}
	loc, _ := time.LoadLocation("America/New_York")
	b.clock.Set(time.Date(2026, 1, 5, 10, 0, 0, 0, loc))
	settings, err := request.SettingsFrom(configs.Default().Requests)
	if err != nil {
		t.Fatal(err)
	}
	b.store = request.NewStore(b.db.Pool, settings, request.Options{Now: b.clock.Now, Holds: b.holds})
	ctx := context.Background()
	if err := b.db.Pool.QueryRow(ctx, `INSERT INTO units (slug, name, path) VALUES ('records', 'Records', 'records') RETURNING id`).Scan(&b.unit); err != nil {
		t.Fatal(err)
	}
	var uid uuid.UUID
	if err := b.db.Pool.QueryRow(ctx, `INSERT INTO users (username, role, unit_id, password_hash) VALUES ('rita', 'records', $1, 'x') RETURNING id`, b.unit).Scan(&uid); err != nil {
		t.Fatal(err)
	}
	b.rita = request.Actor{Name: "user:rita", UserID: uid, Addr: "192.0.2.7"}
	return b
}

// item inserts an evidence item of the given duration (seconds).
func (b *bundle) item(t *testing.T, seconds float64) (uuid.UUID, string) {
	t.Helper()
	var raw [32]byte
	rand.Read(raw[:])
	sum := sha256.Sum256(raw[:])
	var id uuid.UUID
	if err := b.db.Pool.QueryRow(context.Background(), `INSERT INTO evidence_items (sha256, size, unit_id, metadata)
		VALUES ($1, 1000, $2, jsonb_build_object('probe', jsonb_build_object('duration', $3::float8))) RETURNING id`,
		sum[:], b.unit, seconds).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id, hex.EncodeToString(sum[:])
}

func intake() request.Intake {
	return request.Intake{RequesterName: "Ann Reporter", RequesterType: request.RequesterMedia, Contact: "ann@example.org",
		Description: "Body camera footage of the stop on Main St, 2 January", Channel: request.ChannelEmail}
}

func TestCreateNumbersAndPublicStatus(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	r1, code1, err := b.store.Create(ctx, b.rita, intake())
	if err != nil {
		t.Fatal(err)
	}
	r2, code2, err := b.store.Create(ctx, request.Actor{Name: "anonymous:web", Addr: "198.51.100.1"}, intake())
	if err != nil {
		t.Fatal(err)
	}
	if r1.TrackingNumber != "PAR-2026-000001" || r2.TrackingNumber != "PAR-2026-000002" {
		t.Fatalf("tracking numbers %s, %s", r1.TrackingNumber, r2.TrackingNumber)
	}
	if code1 == code2 || request.NormalizeStatusCode(code1) != code1 {
		t.Fatalf("codes %q %q", code1, code2)
	}
	if r1.State != request.StateReceived || r1.Clock.DueDate != "2026-02-03" || r1.Clock.Overdue {
		t.Fatalf("new request: %+v", r1.Clock)
	}
	// The code is stored only as a hash.
	var stored []byte
	b.db.Pool.QueryRow(ctx, `SELECT status_code_hash FROM access_requests WHERE id = $1`, r1.ID).Scan(&stored)
	if strings.Contains(string(stored), code1) || hex.EncodeToString(stored) != hex.EncodeToString(request.HashStatusCode(code1)) {
		t.Fatal("status code not stored as its hash")
	}
	anon := request.Actor{Name: "anonymous:web", Addr: "198.51.100.9"}
	st, err := b.store.PublicStatus(ctx, anon, r1.TrackingNumber, strings.ToLower(strings.ReplaceAll(code1, "-", " ")))
	if err != nil {
		t.Fatal(err)
	}
	if st.State != request.StateReceived || st.DueDate != "2026-02-03" || st.TrackingNumber != r1.TrackingNumber {
		t.Fatalf("public status %+v", st)
	}
	for _, c := range []struct{ number, code string }{
		{r1.TrackingNumber, code2}, {r2.TrackingNumber, code1}, {"PAR-2026-000099", code1}, {"x'; --", code1}, {r1.TrackingNumber, "short"},
	} {
		if _, err := b.store.PublicStatus(ctx, anon, c.number, c.code); !errors.Is(err, request.ErrNotFound) {
			t.Errorf("status %s with a wrong code: %v", c.number, err)
		}
	}
	var failures int
	b.db.Pool.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE event_type = 'request_status_lookup' AND outcome = 'failure'`).Scan(&failures)
	if failures != 5 {
		t.Errorf("%d failed lookups audited, want 5", failures)
	}
	if _, _, err := b.store.Create(ctx, b.rita, request.Intake{RequesterType: "robot"}); !errors.Is(err, request.ErrInvalid) {
		t.Fatalf("bad intake: %v", err)
	}
}

func TestWorkflowTimelineAndClock(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	r, _, err := b.store.Create(ctx, b.rita, intake())
	if err != nil {
		t.Fatal(err)
	}
	// Out of order: 409 naming what is allowed.
	_, err = b.store.Transition(ctx, r.ID, b.rita, request.TransitionInput{To: request.StateSearching})
	var te *request.TransitionError
	if !errors.As(err, &te) || !errors.Is(err, request.ErrConflict) || !strings.Contains(err.Error(), "allowed: assigned") {
		t.Fatalf("out of order: %v", err)
	}
	if _, err := b.store.Transition(ctx, r.ID, b.rita, request.TransitionInput{To: request.StateAssigned}); !errors.Is(err, request.ErrInvalid) {
		t.Fatalf("assign without assignee: %v", err)
	}
	if _, err := b.store.Transition(ctx, r.ID, b.rita, request.TransitionInput{To: request.StateAssigned, Assignee: "nobody"}); !errors.Is(err, request.ErrInvalid) {
		t.Fatalf("assign to an unknown user: %v", err)
	}
	r, err = b.store.Transition(ctx, r.ID, b.rita, request.TransitionInput{To: request.StateAssigned, Assignee: "rita"})
	if err != nil || r.Assignee != "rita" {
		t.Fatalf("assign: %v %+v", err, r)
	}
	// A stale version is refused.
	if _, err := b.store.Transition(ctx, r.ID, b.rita, request.TransitionInput{To: request.StateSearching, Version: r.Version - 1}); !errors.Is(err, request.ErrConflict) {
		t.Fatalf("stale version: %v", err)
	}
	if r, err = b.store.Transition(ctx, r.ID, b.rita, request.TransitionInput{To: request.StateSearching, Version: r.Version}); err != nil {
		t.Fatal(err)
	}

	// Pause on Wed 7 Jan, resume on Mon 12 Jan: due moves from 3 Feb to 6 Feb.
	loc := b.clock.Now().Location()
	b.clock.Set(time.Date(2026, 1, 7, 14, 0, 0, 0, loc))
	if _, err := b.store.Pause(ctx, r.ID, b.rita, request.PauseRequester, ""); !errors.Is(err, request.ErrInvalid) {
		t.Fatalf("pause without reason: %v", err)
	}
	r, err = b.store.Pause(ctx, r.ID, b.rita, request.PauseRequester, "asked which camera")
	if err != nil {
		t.Fatal(err)
	}
	if r.State != request.StateAwaitingRequester || !r.Clock.Paused || r.Clock.DueDate != "" {
		t.Fatalf("paused: %s %+v", r.State, r.Clock)
	}
	if _, err := b.store.Transition(ctx, r.ID, b.rita, request.TransitionInput{To: request.StateRedacting}); !errors.Is(err, request.ErrConflict) {
		t.Fatalf("leaving the pause elsewhere than where it began: %v", err)
	}
	b.clock.Set(time.Date(2026, 1, 12, 9, 0, 0, 0, loc))
	r, err = b.store.Resume(ctx, r.ID, b.rita, "requester answered: camera 2")
	if err != nil {
		t.Fatal(err)
	}
	if r.State != request.StateSearching || r.Clock.DueDate != "2026-02-06" || len(r.Pauses) != 1 || r.Pauses[0].To == nil {
		t.Fatalf("resumed: %s %+v %+v", r.State, r.Clock, r.Pauses)
	}
	// Extensions: one of up to ten days, with a reason.
	if _, err := b.store.Extend(ctx, r.ID, b.rita, 11, "too many"); !errors.Is(err, request.ErrInvalid) {
		t.Fatalf("extension over the limit: %v", err)
	}
	if r, err = b.store.Extend(ctx, r.ID, b.rita, 10, "unusual circumstances: footage at another site"); err != nil {
		t.Fatal(err)
	}
	if r.Clock.DueDate != "2026-02-23" || r.Clock.ExtensionsLeft != 0 {
		t.Fatalf("extended: %+v", r.Clock)
	}
	if _, err := b.store.Extend(ctx, r.ID, b.rita, 1, "again"); !errors.Is(err, request.ErrInvalid) {
		t.Fatalf("second extension: %v", err)
	}
	// Overdue once the deadline passes.
	b.clock.Set(time.Date(2026, 2, 24, 0, 0, 1, 0, loc))
	if r, _ = b.store.Get(ctx, r.ID); !r.Clock.Overdue {
		t.Fatalf("not overdue after the deadline: %+v", r.Clock)
	}
	// Deny with exemption codes: unknown codes are invalid.
	if _, err := b.store.Transition(ctx, r.ID, b.rita, request.TransitionInput{To: request.StateDenied, Exemptions: []string{"b(7)(Z)"}}); !errors.Is(err, request.ErrInvalid) {
		t.Fatalf("unknown exemption: %v", err)
	}
	if _, err := b.store.Transition(ctx, r.ID, b.rita, request.TransitionInput{To: request.StateDenied}); !errors.Is(err, request.ErrInvalid) {
		t.Fatalf("deny without exemption: %v", err)
	}
	if r, err = b.store.Transition(ctx, r.ID, b.rita, request.TransitionInput{To: request.StateDenied, Exemptions: []string{"b(7)(A)", "TX-552.108"}}); err != nil {
		t.Fatal(err)
	}
	if r.Clock.Overdue || len(r.Exemptions) != 2 {
		t.Fatalf("denied request: %+v %v", r.Clock, r.Exemptions)
	}

	tl, err := b.store.Timeline(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for i, e := range tl {
		if e.Seq != int64(i+1) || e.Actor != "user:rita" {
			t.Fatalf("timeline line %d: %+v", i, e)
		}
		kinds = append(kinds, string(e.Kind))
	}
	want := "created transition transition clock_paused clock_resumed transition clock_extended transition"
	if strings.Join(kinds, " ") != want {
		t.Fatalf("timeline %q, want %q", strings.Join(kinds, " "), want)
	}
	if tl[4].Details["note"] != "requester answered: camera 2" || tl[6].Details["reason"] != "unusual circumstances: footage at another site" {
		t.Fatalf("reasons missing from the timeline: %+v %+v", tl[4], tl[6])
	}
	// Every change is in the audit log with its reason.
	var n int
	b.db.Pool.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE component = 'request' AND actor = 'user:rita'
		AND details::jsonb ->> 'request_id' = $1`, r.ID.String()).Scan(&n)
	if n != 7 {
		t.Fatalf("%d audit records, want 7 (create, 6 changes)", n)
	}
	var reason string
	b.db.Pool.QueryRow(ctx, `SELECT details::jsonb ->> 'reason' FROM audit_log WHERE details::jsonb ->> 'change' = 'extension'`).Scan(&reason)
	if reason != "unusual circumstances: footage at another site" {
		t.Fatalf("extension audited without its reason: %q", reason)
	}
	// The timeline cannot be rewritten, not even by the table owner.
	if _, err := b.db.Pool.Exec(ctx, `UPDATE access_request_events SET actor = 'x'`); err == nil {
		t.Fatal("timeline rewritten")
	}
	if _, err := b.db.Pool.Exec(ctx, `DELETE FROM access_request_extensions`); err == nil {
		t.Fatal("extension deleted")
	}
}

func TestDashboardOrder(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	loc := b.clock.Now().Location()
	mk := func(received time.Time) request.Request {
		in := intake()
		in.ReceivedAt = received
		r, _, err := b.store.Create(ctx, b.rita, in)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	b.clock.Set(time.Date(2026, 3, 2, 12, 0, 0, 0, loc))
	late := mk(time.Date(2026, 1, 5, 9, 0, 0, 0, loc))  // due 3 Feb: overdue
	soon := mk(time.Date(2026, 2, 2, 9, 0, 0, 0, loc))  // due 3 Mar: due soon
	fresh := mk(time.Date(2026, 3, 1, 9, 0, 0, 0, loc)) // due end of March
	paused := mk(time.Date(2026, 2, 20, 9, 0, 0, 0, loc))
	done := mk(time.Date(2026, 1, 2, 9, 0, 0, 0, loc))
	if _, err := b.store.Pause(ctx, paused.ID, b.rita, request.PauseFee, "fee estimate sent"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.store.Transition(ctx, done.ID, b.rita, request.TransitionInput{To: request.StateWithdrawn, Note: "requester withdrew"}); err != nil {
		t.Fatal(err)
	}
	list, err := b.store.List(ctx, request.ListFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range list {
		got = append(got, r.TrackingNumber)
	}
	want := []string{late.TrackingNumber, soon.TrackingNumber, fresh.TrackingNumber, paused.TrackingNumber, done.TrackingNumber}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("order %v, want %v", got, want)
	}
	if !list[0].Clock.Overdue || !list[1].Clock.DueSoon || list[2].Clock.DueSoon || list[2].Clock.Overdue || !list[3].Clock.Paused {
		t.Fatalf("flags: %+v / %+v / %+v / %+v", list[0].Clock, list[1].Clock, list[2].Clock, list[3].Clock)
	}
	open, err := b.store.List(ctx, request.ListFilter{Open: true})
	if err != nil || len(open) != 4 {
		t.Fatalf("open list: %d %v", len(open), err)
	}
	if _, err := b.store.List(ctx, request.ListFilter{States: []request.State{"lost"}}); !errors.Is(err, request.ErrInvalid) {
		t.Fatalf("bad state filter: %v", err)
	}
}

func toSearching(t *testing.T, b *bundle, id uuid.UUID) {
	t.Helper()
	ctx := context.Background()
	if _, err := b.store.Transition(ctx, id, b.rita, request.TransitionInput{To: request.StateAssigned, Assignee: "rita"}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.store.Transition(ctx, id, b.rita, request.TransitionInput{To: request.StateSearching}); err != nil {
		t.Fatal(err)
	}
}

const spec1 = `{"version":1,"clip":{"source":"x"},"regions":[{"shape":"ellipse","effect":{"type":"blur"},"reason":"b(7)(C)","origin":"manual",
	"keyframes":[{"time":1,"x":10,"y":10,"width":50,"height":60}]}],"audio":[{"start":2,"end":3,"action":"mute","reason":"b(6)"}]}`

func TestClipsSpecsCustody(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	r, _, err := b.store.Create(ctx, b.rita, intake())
	if err != nil {
		t.Fatal(err)
	}
	item, itemSum := b.item(t, 30)
	// Footage is linked only while the work is under way.
	if _, err := b.store.AddClip(ctx, r.ID, b.rita, request.ClipInput{EvidenceID: item, InMs: 0, OutMs: 5000}); !errors.Is(err, request.ErrConflict) {
		t.Fatalf("clip on a received request: %v", err)
	}
	toSearching(t, b, r.ID)
	for _, bad := range []request.ClipInput{
		{EvidenceID: item, InMs: 5000, OutMs: 5000},
		{EvidenceID: item, InMs: -1, OutMs: 5000},
		{EvidenceID: item, InMs: 0, OutMs: 31000}, // beyond the 30 s recording
		{InMs: 0, OutMs: 1000},
	} {
		if _, err := b.store.AddClip(ctx, r.ID, b.rita, bad); !errors.Is(err, request.ErrInvalid) {
			t.Errorf("clip %+v: %v", bad, err)
		}
	}
	if _, err := b.store.AddClip(ctx, r.ID, b.rita, request.ClipInput{EvidenceID: uuid.New(), InMs: 0, OutMs: 1000}); !errors.Is(err, request.ErrNotFound) {
		t.Fatalf("clip of a missing item: %v", err)
	}
	clip, err := b.store.AddClip(ctx, r.ID, b.rita, request.ClipInput{EvidenceID: item, InMs: 1000, OutMs: 20000})
	if err != nil {
		t.Fatal(err)
	}
	if clip.SourceSHA256 != itemSum || clip.SpecVersion != 0 || clip.LinkedBy != "user:rita" {
		t.Fatalf("clip %+v", clip)
	}
	if !b.holds.opened[item.String()+" "+r.TrackingNumber] {
		t.Fatal("linked item not held for the request")
	}
	events, err := custody.Events(ctx, b.db.Pool, item)
	if err != nil {
		t.Fatal(err)
	}
	last := events[len(events)-1]
	if last.Action != custody.ActionRequestClipLinked || last.Actor != "user:rita" || !strings.Contains(string(last.Details), r.TrackingNumber) ||
		!strings.Contains(string(last.Details), clip.ID.String()) {
		t.Fatalf("custody event %+v %s", last, last.Details)
	}

	// Spec versions: exemption codes checked, stale saves refused with who and when.
	bad := strings.Replace(spec1, `"b(7)(C)"`, `"privacy"`, 1)
	err = func() error {
		_, err := b.store.SaveSpec(ctx, clip.ID, b.rita, 0, []byte(bad), request.OriginEditor)
		return err
	}()
	var ie *request.InvalidError
	if !errors.As(err, &ie) || ie.Fields[0].Field != "regions[0].reason" || !strings.Contains(err.Error(), `unknown exemption code "privacy"`) {
		t.Fatalf("unknown code in spec: %v", err)
	}
	if _, err := b.store.SaveSpec(ctx, clip.ID, b.rita, 0, []byte(`[1]`), request.OriginEditor); !errors.Is(err, request.ErrInvalid) {
		t.Fatalf("spec not an object: %v", err)
	}
	if _, err := b.store.SaveSpec(ctx, clip.ID, b.rita, 0, make([]byte, request.MaxSpecBytes+1), request.OriginEditor); !errors.Is(err, request.ErrTooLarge) {
		t.Fatalf("oversized spec: %v", err)
	}
	v1, err := b.store.SaveSpec(ctx, clip.ID, b.rita, 0, []byte(spec1), request.OriginEditor)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(spec1))
	if v1.Version != 1 || v1.SHA256 != hex.EncodeToString(sum[:]) {
		t.Fatalf("v1 %+v", v1)
	}
	b.clock.Set(b.clock.Now().Add(time.Minute))
	other := request.Actor{Name: "user:sam"}
	if _, err := b.store.SaveSpec(ctx, clip.ID, other, 1, []byte(spec1), request.OriginEditor); err != nil {
		t.Fatal(err)
	}
	_, err = b.store.SaveSpec(ctx, clip.ID, b.rita, 1, []byte(spec1), request.OriginEditor)
	var stale *request.StaleSpecError
	if !errors.As(err, &stale) || !errors.Is(err, request.ErrConflict) || stale.Current != 2 ||
		!strings.Contains(err.Error(), "edited by sam at 2026-01-05T15:01:00Z") {
		t.Fatalf("stale save: %v", err)
	}
	got, err := b.store.Spec(ctx, clip.ID, 0)
	if err != nil || got.Version != 2 || got.Author != "user:sam" || string(got.Spec) != spec1 {
		t.Fatalf("latest spec: %+v %v", got, err)
	}
	if got, err = b.store.Spec(ctx, clip.ID, 1); err != nil || got.Author != "user:rita" {
		t.Fatalf("spec v1: %+v %v", got, err)
	}
	if _, err := b.store.Spec(ctx, clip.ID, 9); !errors.Is(err, request.ErrNotFound) {
		t.Fatalf("missing version: %v", err)
	}
	versions, _ := b.store.SpecVersions(ctx, clip.ID)
	if len(versions) != 2 || versions[0].Version != 2 {
		t.Fatalf("versions %+v", versions)
	}
	clip, _ = b.store.Clip(ctx, clip.ID)
	if clip.SpecVersion != 2 || clip.SpecAuthor != "user:sam" {
		t.Fatalf("clip after saves %+v", clip)
	}
	if _, err := b.db.Pool.Exec(ctx, `UPDATE redaction_spec_versions SET spec = '{}'`); err == nil {
		t.Fatal("spec version rewritten")
	}

	// Job outputs name their source and spec version; a render is in custody.
	out := request.JobOutput{ClipID: clip.ID, Kind: request.OutputRender, SpecVersion: 2, ObjectKey: "derivatives/x",
		SHA256: strings.Repeat("ab", 32), Size: 123, SourceSHA256: itemSum}
	if _, err := b.store.RecordJobOutput(ctx, request.Actor{Name: "system:redact-render"}, out); err != nil {
		t.Fatal(err)
	}
	wrong := out
	wrong.SourceSHA256 = strings.Repeat("cd", 32)
	if _, err := b.store.RecordJobOutput(ctx, request.Actor{Name: "system:redact-render"}, wrong); !errors.Is(err, request.ErrConflict) {
		t.Fatalf("output of another source: %v", err)
	}
	outs, _ := b.store.JobOutputs(ctx, clip.ID)
	if len(outs) != 1 || outs[0].SHA256 != out.SHA256 || outs[0].SourceSHA256 != itemSum || outs[0].SpecVersion != 2 {
		t.Fatalf("outputs %+v", outs)
	}

	// Withheld items carry exemption codes.
	other2, _ := b.item(t, 10)
	if _, err := b.store.Withhold(ctx, r.ID, b.rita, request.WithholdInput{EvidenceID: other2}); !errors.Is(err, request.ErrInvalid) {
		t.Fatalf("withhold without code: %v", err)
	}
	if _, err := b.store.Withhold(ctx, r.ID, b.rita, request.WithholdInput{EvidenceID: other2, Exemptions: []string{"b(10)"}}); !errors.Is(err, request.ErrInvalid) {
		t.Fatalf("withhold with unknown code: %v", err)
	}
	w, err := b.store.Withhold(ctx, r.ID, b.rita, request.WithholdInput{EvidenceID: other2, Exemptions: []string{"b(7)(A)"}, Note: "open investigation"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.store.Withhold(ctx, r.ID, b.rita, request.WithholdInput{EvidenceID: other2, Exemptions: []string{"b(7)(A)"}}); !errors.Is(err, request.ErrConflict) {
		t.Fatalf("withheld twice: %v", err)
	}
	if err := b.store.EndWithhold(ctx, r.ID, w.ID, b.rita, "investigation closed"); err != nil {
		t.Fatal(err)
	}
	ws, _ := b.store.WithheldItems(ctx, r.ID)
	if len(ws) != 1 || ws[0].EndedAt == nil {
		t.Fatalf("withheld %+v", ws)
	}
	wev, _ := custody.Events(ctx, b.db.Pool, other2)
	if len(wev) != 2 || wev[0].Action != custody.ActionRequestWithheld || !strings.Contains(string(wev[0].Details), `"b(7)(A)"`) ||
		wev[1].Action != custody.ActionRequestWithholdEnded {
		t.Fatalf("withholding not in the item's custody: %+v", wev)
	}

	// Removing a clip is recorded, not deleted.
	if _, err := b.store.RemoveClip(ctx, r.ID, clip.ID, b.rita, ""); !errors.Is(err, request.ErrInvalid) {
		t.Fatalf("remove without reason: %v", err)
	}
	if _, err := b.store.RemoveClip(ctx, uuid.New(), clip.ID, b.rita, "wrong request"); !errors.Is(err, request.ErrNotFound) {
		t.Fatalf("remove through another request: %v", err)
	}
	removed, err := b.store.RemoveClip(ctx, r.ID, clip.ID, b.rita, "wrong camera")
	if err != nil || removed.RemovedAt == nil {
		t.Fatalf("remove: %v %+v", err, removed)
	}
	if _, err := b.store.SaveSpec(ctx, clip.ID, b.rita, 2, []byte(spec1), request.OriginEditor); !errors.Is(err, request.ErrConflict) {
		t.Fatalf("spec of a removed clip: %v", err)
	}
	events, _ = custody.Events(ctx, b.db.Pool, item)
	var actions []string
	for _, e := range events {
		actions = append(actions, string(e.Action))
	}
	if strings.Join(actions, ",") != "request_clip_linked,redaction_created,redaction_created,redaction_created,request_clip_removed" {
		t.Fatalf("custody actions %v", actions)
	}
	tl, _ := b.store.Timeline(ctx, r.ID)
	var kinds []string
	for _, e := range tl[3:] { // after created, assigned, searching
		kinds = append(kinds, string(e.Kind))
	}
	if strings.Join(kinds, ",") != "clip_linked,spec_saved,spec_saved,job_output,item_withheld,item_withhold_ended,clip_removed" {
		t.Fatalf("timeline %v", kinds)
	}

	// Closing the request releases the retention holds it placed.
	for _, to := range []request.State{request.StateWithdrawn, request.StateClosed} {
		if _, err := b.store.Transition(ctx, r.ID, b.rita, request.TransitionInput{To: to}); err != nil {
			t.Fatal(err)
		}
	}
	if len(b.holds.opened) != 0 {
		t.Fatalf("holds left open: %v", b.holds.opened)
	}
}

// Two editors saving on the same base version at once: exactly one wins.
func TestConcurrentSpecSaves(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	r, _, _ := b.store.Create(ctx, b.rita, intake())
	toSearching(t, b, r.ID)
	item, _ := b.item(t, 30)
	clip, err := b.store.AddClip(ctx, r.ID, b.rita, request.ClipInput{EvidenceID: item, OutMs: 3000})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = b.store.SaveSpec(ctx, clip.ID, request.Actor{Name: "user:e" + string(rune('a'+i))}, 0, []byte(spec1), request.OriginEditor)
		}()
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		if err == nil {
			ok++
		} else if !errors.Is(err, request.ErrConflict) {
			t.Fatalf("unexpected error %v", err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d saves on base 0 succeeded, want 1", ok)
	}
}

func TestAppRoleCannotRewriteRequests(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	if _, _, err := b.store.Create(ctx, b.rita, intake()); err != nil {
		t.Fatal(err)
	}
	err := pgx.BeginFunc(ctx, b.db.Pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SET LOCAL ROLE opendems_app`); err != nil {
			return err
		}
		for _, q := range []string{`DELETE FROM access_requests`, `DELETE FROM request_clips`, `TRUNCATE access_request_events`} {
			if _, err := tx.Exec(ctx, `SAVEPOINT s`); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, q); err == nil || !strings.Contains(err.Error(), "permission denied") {
				t.Errorf("%s as the application: %v", q, err)
			}
			tx.Exec(ctx, `ROLLBACK TO SAVEPOINT s`)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// The public pages' limit is kept in PostgreSQL: exactly the configured
// number of attempts per address and hour pass, even when they race (as
// they would across several demsd processes); others are unaffected; the
// window slides.
func TestAllowPublic(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make([]error, 12)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = b.store.AllowPublic(ctx, "198.51.100.7", "intake")
		}()
	}
	wg.Wait()
	allowed := 0
	for _, err := range errs {
		switch {
		case err == nil:
			allowed++
		case !errors.Is(err, evidence.ErrRateLimited) || !strings.Contains(err.Error(), "try again in"):
			t.Fatalf("refusal %v", err)
		}
	}
	if allowed != 5 {
		t.Fatalf("%d of 12 racing attempts allowed, want 5", allowed)
	}
	if err := b.store.AllowPublic(ctx, "198.51.100.8", "intake"); err != nil {
		t.Fatalf("another address: %v", err)
	}
	if err := b.store.AllowPublic(ctx, "198.51.100.7", "status"); err != nil {
		t.Fatalf("the status page has its own count: %v", err)
	}
	b.clock.Set(b.clock.Now().Add(request.PublicWindow + time.Second))
	if err := b.store.AllowPublic(ctx, "198.51.100.7", "intake"); err != nil {
		t.Fatalf("after the window: %v", err)
	}
}

// A spec beyond the media (a time after the end, a box outside the
// picture) is refused with each problem at its path, and nothing is saved.
func TestSpecBeyondTheMedia(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	r, _, _ := b.store.Create(ctx, b.rita, intake())
	toSearching(t, b, r.ID)
	item, _ := b.item(t, 10)
	if _, err := b.db.Pool.Exec(ctx, `UPDATE evidence_items SET metadata = '{"probe":{"duration":10,"has_video":true,"has_audio":true,
		"streams":[{"kind":"video","width":640,"height":360}]}}' WHERE id = $1`, item); err != nil {
		t.Fatal(err)
	}
	clip, err := b.store.AddClip(ctx, r.ID, b.rita, request.ClipInput{EvidenceID: item, OutMs: 5000})
	if err != nil {
		t.Fatal(err)
	}
	bad := `{"version":1,"clip":{"source":"x"},"regions":[{"shape":"ellipse","effect":{"type":"blur"},"reason":"b(7)(C)","origin":"manual",
		"keyframes":[{"time":12,"x":600,"y":10,"width":80,"height":60}]}]}`
	_, err = b.store.SaveSpec(ctx, clip.ID, b.rita, 0, []byte(bad), request.OriginEditor)
	var ie *request.InvalidError
	if !errors.As(err, &ie) || len(ie.Fields) < 2 {
		t.Fatalf("spec beyond the media: %v", err)
	}
	paths := ""
	for _, f := range ie.Fields {
		paths += f.Field + " "
	}
	if !strings.Contains(paths, "regions[0].keyframes[0].time") || !strings.Contains(paths, "regions[0].keyframes[0]") {
		t.Fatalf("field paths %q", paths)
	}
	if vs, _ := b.store.SpecVersions(ctx, clip.ID); len(vs) != 0 {
		t.Fatalf("a refused spec was saved: %+v", vs)
	}
	if _, err := b.store.SaveSpec(ctx, clip.ID, b.rita, 0, []byte(strings.Replace(strings.Replace(bad, `"time":12`, `"time":2`, 1), `"x":600`, `"x":500`, 1)), request.OriginEditor); err != nil {
		t.Fatalf("the same spec within the media: %v", err)
	}
}
