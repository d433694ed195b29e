package retention_test

import (
	"bytes"
	"net/url"
	"testing"
	"time"

	"github.com/google/uuid"
)

func errorCode(m map[string]any) string {
	e, _ := m["error"].(map[string]any)
	s, _ := e["code"].(string)
	return s
}

// Explain returns the decision and the rule that decided it, for users,
// items and purges; an item the caller may not see answers like a
// missing one.
func TestExplainReturnsDecidingRule(t *testing.T) {
	b := setup(t, fsStore(t))
	ctx := t.Context()
	north := b.newItem("north", "N1", time.Now().AddDate(-1, 0, 0))
	south := b.newItem("south", "S1", time.Now())
	if _, _, err := b.svc.SetItemHold(ctx, north.ID, "subpoena", b.principal("admin")); err != nil {
		t.Fatal(err)
	}
	srv := b.server()
	q := func(user, action, ev string) string {
		v := url.Values{}
		if user != "" {
			v.Set("user", user)
		}
		if action != "" {
			v.Set("action", action)
		}
		if ev != "" {
			v.Set("evidence", ev)
		}
		return "/api/v1/policy/explain?" + v.Encode()
	}
	tests := []struct {
		name, caller, user, action, evidence string
		code                                 int
		allowed                              bool
		rule                                 string
	}{
		{"supervisor views own unit", "auditor", "sgt.north", "evidence:view", north.ID.String(), 200, true, "p, supervisor, *, evidence:view, *, unit, allow"},
		{"supervisor other unit", "auditor", "sgt.north", "evidence:view", south.ID.String(), 200, false, ""},
		{"auditor never downloads", "admin", "auditor", "evidence:download", north.ID.String(), 200, false, "p, auditor, *, evidence:download, *, any, deny"},
		{"route decision", "admin", "records", "admin:users", "", 200, false, ""},
		{"admin purges route", "auditor", "admin", "purge:schedule", "", 200, true, "p, admin, *, purge:*, *, any, allow"},
		{"purge of a held item", "admin", "", "purge", north.ID.String(), 200, false, "p, purge, *, legal-hold-item, deny"},
		{"purge of a running item", "admin", "", "purge", south.ID.String(), 200, false, "p, purge, *, retention-running, deny"},
		{"unknown action", "admin", "records", "evidence:eat", "", 400, false, ""},
		{"no user", "admin", "", "evidence:view", "", 400, false, ""},
		{"unknown user", "admin", "nobody", "evidence:view", "", 404, false, ""},
		{"purge without item", "admin", "", "purge", "", 400, false, ""},
		{"supervisor asks about another unit's item", "sgt.north", "sgt.south", "evidence:view", south.ID.String(), 404, false, ""},
		{"supervisor asks about own unit", "sgt.north", "officer.north", "evidence:play", north.ID.String(), 200, true, "p, officer, *, evidence:play, *, own, allow"},
		{"officer may not explain", "officer.north", "officer.north", "evidence:view", "", 403, false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, body, _ := call(t, srv.URL, b.token(tc.caller), "GET", q(tc.user, tc.action, tc.evidence), "")
			if code != tc.code {
				t.Fatalf("status %d, want %d: %v", code, tc.code, body)
			}
			if code != 200 {
				return
			}
			d := body
			if body["mode"] == "purge" {
				d, _ = body["decision"].(map[string]any)
			}
			if d["allowed"] != tc.allowed || d["rule"] != tc.rule {
				t.Fatalf("allowed=%v rule=%q, want %v %q (%v)", d["allowed"], d["rule"], tc.allowed, tc.rule, body)
			}
			if r, _ := d["reason"].(string); r == "" {
				t.Fatal("no reason")
			}
		})
	}
	// The IDOR answer is byte for byte the missing item's answer, and the
	// denial is audited.
	before := len(b.audited.list())
	_, _, hidden := call(t, srv.URL, b.token("sgt.north"), "GET", q("sgt.south", "evidence:view", south.ID.String()), "")
	evs := b.audited.list()
	if len(evs) != before+1 || evs[len(evs)-1].Type != "access_denied" || evs[len(evs)-1].Actor != "user:sgt.north" ||
		evs[len(evs)-1].Details["evidence_id"] != south.ID.String() {
		t.Fatalf("hidden item denial not audited: %+v", evs[before:])
	}
	_, _, missing := call(t, srv.URL, b.token("sgt.north"), "GET", q("sgt.south", "evidence:view", uuid.NewString()), "")
	if !bytes.Equal(hidden, missing) {
		t.Fatalf("hidden item answers %s, missing item %s", hidden, missing)
	}
}

// Bad input on every write route gets a 400 with a clear code, and the
// item routes hide other units' items.
func TestRouteInputErrors(t *testing.T) {
	b := setup(t, fsStore(t))
	it := b.newItem("north", "N1", time.Now())
	south := b.newItem("south", "S1", time.Now())
	srv := b.server()
	admin, records := b.token("admin"), b.token("records")
	p := "/api/v1/evidence/" + it.ID.String()
	mine := "/api/v1/evidence/" + b.newItem("north", "N1", time.Now()).ID.String()
	tests := []struct {
		name, token, method, path, body string
		code                            int
		errCode                         string
	}{
		{"categories unknown", records, "PUT", p + "/categories", `{"categories":["felonious"]}`, 400, "invalid"},
		{"categories empty", records, "PUT", p + "/categories", `{"categories":[]}`, 400, "invalid"},
		{"categories bad name", records, "PUT", p + "/categories", `{"categories":["Felony!"]}`, 400, "invalid"},
		{"categories missing", records, "PUT", p + "/categories", `{"reason":"x"}`, 400, "invalid"},
		{"categories unknown field", records, "PUT", p + "/categories", `{"categories":["felony"],"x":1}`, 400, "malformed_json"},
		{"categories not json", records, "PUT", p + "/categories", `felony`, 400, "malformed_json"},
		{"categories trailing", records, "PUT", p + "/categories", `{"categories":["felony"]} {}`, 400, "malformed_json"},
		{"categories ok", records, "PUT", p + "/categories", `{"categories":["felony","traffic"],"reason":"arrest"}`, 200, ""},
		{"flags without list", records, "PUT", p + "/flags", `{}`, 400, "invalid"},
		{"flags ok", records, "PUT", p + "/flags", `{"flags":["use-of-force"]}`, 200, ""},
		{"hold without reason", records, "POST", p + "/hold", `{"reason":"  "}`, 400, "invalid"},
		{"hold without body", records, "POST", p + "/hold", ``, 400, "malformed_json"},
		{"release without hold", records, "DELETE", p + "/hold", ``, 404, "not_found"},
		{"subject request future", records, "POST", p + "/subject-requests", `{"requested_at":"2999-01-01T00:00:00Z"}`, 400, "invalid"},
		{"subject request ok", records, "POST", p + "/subject-requests", `{"requester":"J. Doe"}`, 201, ""},
		{"purges bad before", admin, "GET", "/api/v1/purges?before=tomorrow", ``, 400, "invalid"},
		{"purges bad limit", admin, "GET", "/api/v1/purges?limit=0", ``, 400, "invalid"},
		{"purges by date", admin, "GET", "/api/v1/purges?before=2030-01-01", ``, 200, ""},
		{"cancel without schedule", admin, "POST", p + "/purge/cancel", ``, 409, "conflict"},
		{"malformed id", records, "PUT", "/api/v1/evidence/not-a-uuid/categories", `{"categories":["felony"]}`, 404, "not_found"},
		{"case malformed id", admin, "POST", "/api/v1/cases/nope/hold", `{"reason":"x"}`, 404, "not_found"},
		{"case missing", admin, "POST", "/api/v1/cases/" + uuid.NewString() + "/hold", `{"reason":"x"}`, 404, "not_found"},
		{"schedule", admin, "GET", "/api/v1/retention/schedule", ``, 200, ""},
		{"holds", records, "GET", "/api/v1/holds", ``, 200, ""},
		{"holds released too", admin, "GET", "/api/v1/holds?active=false&limit=5", ``, 200, ""},
		{"holds bad active", admin, "GET", "/api/v1/holds?active=yes", ``, 400, "invalid"},
		{"holds for auditor", b.token("auditor"), "GET", "/api/v1/holds", ``, 403, "forbidden"},
		{"schedule for records", records, "GET", "/api/v1/retention/schedule", ``, 403, "forbidden"},
		{"retention report", b.token("auditor"), "GET", p + "/retention", ``, 200, ""},
		{"other unit's item", b.token("sgt.north"), "GET", "/api/v1/evidence/" + south.ID.String() + "/retention", ``, 404, "not_found"},
		{"other unit's item categorize", b.token("sgt.north"), "PUT", "/api/v1/evidence/" + south.ID.String() + "/categories", `{"categories":["traffic"]}`, 404, "not_found"},
		{"officer cannot enter felony", b.token("officer.north"), "PUT", mine + "/categories", `{"categories":["traffic","felony"]}`, 403, "forbidden"},
		{"officer may enter traffic", b.token("officer.north"), "PUT", mine + "/categories", `{"categories":["traffic"]}`, 200, ""},
		{"officer bad category name", b.token("officer.north"), "PUT", mine + "/categories", `{"categories":["Traffic!"]}`, 400, "invalid"},
		{"own unit categorize", b.token("sgt.north"), "PUT", p + "/categories", `{"categories":["homicide"]}`, 200, ""},
		{"officer cannot downgrade homicide", b.token("officer.north"), "PUT", p + "/categories", `{"categories":["traffic"]}`, 403, "forbidden"},
		{"anonymous", "", "GET", p + "/retention", ``, 401, "unauthenticated"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, body, raw := call(t, srv.URL, tc.token, tc.method, tc.path, tc.body)
			if code != tc.code || errorCode(body) != tc.errCode {
				t.Fatalf("%d %s, want %d %q", code, raw, tc.code, tc.errCode)
			}
		})
	}
}
