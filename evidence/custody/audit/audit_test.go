package audit

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/opendems/opendems/evidence"
	"github.com/opendems/opendems/evidence/identity"
	"github.com/opendems/opendems/evidence/pg/pgtest"
)

func setup(t *testing.T) *pgxpool.Pool {
	t.Helper()
	return pgtest.NewDB(t).Pool
}

func logon(actor string, ok bool) Entry {
	o := OutcomeSuccess
	if !ok {
		o = OutcomeFailure
	}
	return Entry{Component: "identity", EventType: EventLogon, Actor: actor, Outcome: o, SourceAddr: "192.0.2.7",
		Details: map[string]any{"via": "password"}}
}

func TestRecordAndVerify(t *testing.T) {
	db := setup(t)
	ctx := context.Background()
	e1, err := Record(ctx, db, logon("user:jdoe", true))
	if err != nil {
		t.Fatal(err)
	}
	// Inside a transaction that rolls back: the record goes with it.
	tx, _ := db.Begin(ctx)
	if _, err := Record(ctx, tx, logon("user:jdoe", false)); err != nil {
		t.Fatal(err)
	}
	tx.Rollback(ctx)
	// Inside one that commits.
	tx, _ = db.Begin(ctx)
	e2, err := Record(ctx, tx, Entry{Component: "identity", EventType: EventPasswordChanged, Actor: "user:jdoe",
		UserID: uuid.New(), Outcome: OutcomeSuccess})
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if e1.Seq != 1 || e2.Seq != 2 || e2.PrevHash != e1.Hash {
		t.Fatalf("chain %+v %+v", e1, e2)
	}
	rep, err := Verify(ctx, db, nil)
	if err != nil || !rep.OK() || rep.Records != 2 {
		t.Fatalf("verify %+v %v", rep, err)
	}
}

func TestRecordRejectsBadEntries(t *testing.T) {
	db := setup(t)
	for name, en := range map[string]Entry{
		"no component": {EventType: EventLogon, Actor: "user:a", Outcome: OutcomeSuccess},
		"no type":      {Component: "identity", Actor: "user:a", Outcome: OutcomeSuccess},
		"bad outcome":  {Component: "identity", EventType: EventLogon, Actor: "user:a", Outcome: "maybe"},
		"bad details":  {Component: "identity", EventType: EventLogon, Actor: "user:a", Outcome: OutcomeSuccess, Details: "x"},
	} {
		if _, err := Record(context.Background(), db, en); !errors.Is(err, evidence.ErrInvalid) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestConcurrentRecords(t *testing.T) {
	db := setup(t)
	var wg sync.WaitGroup
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				if _, err := Record(context.Background(), db, logon(fmt.Sprintf("user:u%d", w), i%2 == 0)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	rep, err := Verify(context.Background(), db, nil)
	if err != nil || !rep.OK() || rep.Records != 320 {
		t.Fatalf("verify %+v %v", rep, err)
	}
}

func TestTamperAndTrigger(t *testing.T) {
	db := setup(t)
	ctx := context.Background()
	for i := 0; i < 6; i++ {
		if _, err := Record(ctx, db, logon("user:jdoe", true)); err != nil {
			t.Fatal(err)
		}
	}
	for _, sql := range []string{`UPDATE audit_log SET outcome = 'failure' WHERE seq = 3`,
		`DELETE FROM audit_log WHERE seq = 3`, `TRUNCATE audit_log`} {
		if _, err := db.Exec(ctx, sql); err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: %v", sql, err)
		}
	}
	if _, err := db.Exec(ctx, `ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(ctx, `UPDATE audit_log SET outcome = 'failure' WHERE seq = 3`); err != nil {
		t.Fatal(err)
	}
	rep, _ := Verify(ctx, db, nil)
	if rep.OK() || rep.Problems[0].Seq != 3 || !strings.Contains(rep.Problems[0].Message, "audit seq 3: hash mismatch") {
		t.Fatalf("changed record: %+v", rep)
	}
	if _, err := db.Exec(ctx, `DELETE FROM audit_log WHERE seq = 5`); err != nil {
		t.Fatal(err)
	}
	rep, _ = Verify(ctx, db, nil)
	if rep.ProblemCount != 2 || !strings.Contains(rep.Problems[1].Message, "seq 5 missing (gap between 4 and 6)") {
		t.Fatalf("deleted record: %+v", rep)
	}
}

func router(db *pgxpool.Pool, p *identity.Principal) *gin.Engine {
	gin.SetMode(gin.TestMode)
	r := gin.New()
	r.Use(func(c *gin.Context) {
		if p != nil {
			c.Request = c.Request.WithContext(identity.WithPrincipal(c.Request.Context(), *p))
		}
	})
	r.Use(Middleware(db, nil))
	r.GET("/api/v1/audit", Handler(db))
	r.POST("/api/v1/users", func(c *gin.Context) { c.Status(http.StatusCreated) })
	return r
}

func get(r http.Handler, url string) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	r.ServeHTTP(w, httptest.NewRequest(http.MethodGet, url, nil))
	return w
}

func TestHandler(t *testing.T) {
	db := setup(t)
	ctx := context.Background()
	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for i, en := range []Entry{logon("user:jdoe", true), logon("user:jdoe", false), logon("anonymous:root", false),
		{Component: "policy", EventType: EventPolicyChanged, Actor: "user:=cmd", Outcome: OutcomeSuccess, Details: map[string]any{"old": "a", "new": "b"}}} {
		en.Time = base.Add(time.Duration(i) * time.Hour)
		if _, err := Record(ctx, db, en); err != nil {
			t.Fatal(err)
		}
	}
	auditor := identity.Principal{Kind: identity.KindUser, ID: uuid.New(), Name: "aud", Role: identity.RoleAuditor}
	r := router(db, &auditor)
	tests := []struct {
		url    string
		status int
		seqs   []int64
	}{
		{"/api/v1/audit?user=jdoe", 200, []int64{1, 2}},
		{"/api/v1/audit?event_type=logon&outcome=failure", 200, []int64{2, 3}},
		{"/api/v1/audit?from=2026-03-01T13:00:00Z&to=2026-03-01T15:00:00Z", 200, []int64{2, 3}},
		{"/api/v1/audit?after=3&event_type=policy_changed", 200, []int64{4}},
		{"/api/v1/audit?limit=1&user=anonymous:root", 200, []int64{3}},
		{"/api/v1/audit?from=yesterday", 400, nil},
		{"/api/v1/audit?outcome=maybe", 400, nil},
		{"/api/v1/audit?format=xml", 400, nil},
		{"/api/v1/audit?from=2026-03-02T00:00:00Z&to=2026-03-01T00:00:00Z", 400, nil},
	}
	for _, tc := range tests {
		w := get(r, tc.url)
		if w.Code != tc.status {
			t.Errorf("%s: status %d: %s", tc.url, w.Code, w.Body)
			continue
		}
		var body struct {
			Records []struct{ Seq int64 }
			Error   struct{ Code, Message string }
		}
		json.Unmarshal(w.Body.Bytes(), &body)
		if tc.status != 200 {
			if body.Error.Code == "" {
				t.Errorf("%s: error body %s", tc.url, w.Body)
			}
			continue
		}
		var got []int64
		for _, rec := range body.Records {
			got = append(got, rec.Seq)
		}
		if fmt.Sprint(got) != fmt.Sprint(tc.seqs) {
			t.Errorf("%s: seqs %v, want %v", tc.url, got, tc.seqs)
		}
	}
	// CSV, with formula cells neutralized.
	w := get(r, "/api/v1/audit?format=csv&event_type=policy_changed")
	rows, err := csv.NewReader(w.Body).ReadAll()
	if err != nil || len(rows) != 2 || rows[0][0] != "seq" || rows[1][4] != "user:=cmd" || !strings.HasPrefix(rows[1][9], `{"new":"b"`) {
		t.Fatalf("csv %q %v", rows, err)
	}
	// Every successful read above was itself audited (6 reads with 200).
	recs, err := Query(ctx, db, Filter{EventType: EventAuditRead, Actor: "user:aud"})
	if err != nil || len(recs) != 6 {
		t.Fatalf("audit_read records: %d %v", len(recs), err)
	}
	// No principal: refused.
	if w := get(router(db, nil), "/api/v1/audit"); w.Code != http.StatusUnauthorized {
		t.Fatalf("anonymous: %d", w.Code)
	}
	rep, err := Verify(ctx, db, nil)
	if err != nil || !rep.OK() {
		t.Fatalf("verify %+v %v", rep, err)
	}
}

func TestMiddlewareRecordsAdminActions(t *testing.T) {
	db := setup(t)
	admin := identity.Principal{Kind: identity.KindUser, ID: uuid.New(), Name: "boss", Role: identity.RoleAdmin}
	officer := identity.Principal{Kind: identity.KindUser, ID: uuid.New(), Name: "cop", Role: identity.RoleOfficer}
	for _, p := range []identity.Principal{admin, officer} {
		w := httptest.NewRecorder()
		router(db, &p).ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/api/v1/users", nil))
		if w.Code != http.StatusCreated {
			t.Fatal(w.Code)
		}
	}
	recs, err := Query(context.Background(), db, Filter{EventType: EventAdminAction})
	if err != nil || len(recs) != 1 || recs[0].Actor != "user:boss" || recs[0].UserID != admin.ID ||
		!strings.Contains(string(recs[0].Details), `"status":201`) {
		t.Fatalf("admin actions %+v %v", recs, err)
	}
}

func TestSanitizeActor(t *testing.T) {
	tests := []struct{ in, want string }{
		{"user:jdoe", "user:jdoe"},
		{"anonymous", "anonymous:anonymous"},
		{"", "anonymous:-"},
		{"user:", "user:-"},
		{"user:bad name\n", "user:bad_name_"},
		{"User:x", "unknown:User:x"},
		{"user:\xff", "user:\uFFFD"},
		{"user:" + strings.Repeat("é", 100), "user:" + strings.Repeat("é", 100)},
		{"user:" + strings.Repeat("é", 200), "user:" + strings.Repeat("é", 64)},
	}
	for _, tc := range tests {
		got := SanitizeActor(tc.in)
		if got != tc.want {
			t.Errorf("SanitizeActor(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestFailedLogonWithOddNameIsRecorded: the audit log must never drop a
// failed logon because of what the caller typed as user name.
func TestFailedLogonWithOddNameIsRecorded(t *testing.T) {
	db := setup(t)
	ctx := context.Background()
	for _, actor := range []string{"anonymous", "user:", "user:admin' OR 1=1 --", "user:\x00\xfe"} {
		e, err := Record(ctx, db, Entry{Component: "api", EventType: EventLogon, Actor: actor, Outcome: OutcomeFailure})
		if err != nil {
			t.Fatalf("%q: %v", actor, err)
		}
		changed := SanitizeActor(actor) != actor
		if e.Actor != SanitizeActor(actor) || changed != strings.Contains(string(e.Details), "actor_as_given") {
			t.Fatalf("%q recorded as %q, details %s", actor, e.Actor, e.Details)
		}
	}
	rep, err := Verify(ctx, db, nil)
	if err != nil || !rep.OK() || rep.Records != 4 {
		t.Fatalf("verify %+v %v", rep, err)
	}
}

// Paging through the whole log as an administrator (whose every request
// is audited): one audit record for the whole query, and the paging ends
// although the log grows while it is read.
func TestPagingIsOneQueryAndEnds(t *testing.T) {
	db := setup(t)
	ctx := context.Background()
	for i := 0; i < 7; i++ {
		if _, err := Record(ctx, db, logon("user:jdoe", true)); err != nil {
			t.Fatal(err)
		}
	}
	admin := identity.Principal{Kind: identity.KindUser, ID: uuid.New(), Name: "boss", Role: identity.RoleAdmin}
	r := router(db, &admin)
	url := "/api/v1/audit?limit=2"
	var seen []int64
	pages := 0
	for {
		pages++
		if pages > 10 {
			t.Fatalf("paging does not end: %v", seen)
		}
		w := get(r, url)
		var body struct {
			Records []struct{ Seq int64 }
			Next    int64 `json:"next_after"`
			Query   int64 `json:"query"`
			Done    bool  `json:"complete"`
		}
		if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || w.Code != 200 {
			t.Fatalf("page %d: %d %s", pages, w.Code, w.Body)
		}
		for _, rec := range body.Records {
			seen = append(seen, rec.Seq)
		}
		if body.Done {
			break
		}
		url = fmt.Sprintf("/api/v1/audit?limit=2&after=%d&query=%d", body.Next, body.Query)
	}
	if fmt.Sprint(seen) != "[1 2 3 4 5 6 7]" {
		t.Fatalf("records read %v", seen)
	}
	all, _ := Query(ctx, db, Filter{AfterSeq: 7})
	if len(all) != 1 || all[0].EventType != EventAuditRead {
		t.Fatalf("audit records written by reading: %+v", all)
	}
	q := all[0].Seq
	// The query id is the reader's own and bound to its filter.
	other := identity.Principal{Kind: identity.KindUser, ID: uuid.New(), Name: "aud", Role: identity.RoleAuditor}
	for _, tc := range []struct {
		r   http.Handler
		url string
	}{
		{router(db, &other), fmt.Sprintf("/api/v1/audit?query=%d", q)},
		{r, fmt.Sprintf("/api/v1/audit?query=%d&user=jdoe", q)},
		{r, "/api/v1/audit?query=3"},
		{r, "/api/v1/audit?query=x"},
	} {
		if w := get(tc.r, tc.url); w.Code != http.StatusBadRequest {
			t.Errorf("%s: %d %s", tc.url, w.Code, w.Body)
		}
	}
}
