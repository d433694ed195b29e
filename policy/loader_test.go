package policy_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	policyconf "github.com/opendems/opendems/configs/policy"
	"github.com/opendems/opendems/policy"
)

func accessFiles(policyCSV string) policy.StaticSource {
	return policy.StaticSource{
		ModelName: "model.conf", Model: policyconf.AccessModel(),
		PolicyName: "policy.csv", Policy: []byte(policyCSV),
	}
}

func TestPolicyFileErrors(t *testing.T) {
	t.Parallel()
	good := "p, officer, *, evidence:view, *, own, allow\n"
	tests := []struct {
		name, csv string
		line      string // "policy.csv:N" expected in the error
		has       string
	}{
		{"empty", "# nothing\n", "policy.csv", "no policy rows"},
		{"unknown role", good + "p, chief, *, evidence:view, *, any, allow\n", "policy.csv:2", `role "chief"`},
		{"bad unit", "\n\np, supervisor, Patrol, evidence:view, *, unit, allow\n", "policy.csv:3", `unit "Patrol"`},
		{"unknown action", good + "p, officer, *, evidence:delete, *, own, allow\n", "policy.csv:2", `act "evidence:delete"`},
		{"pattern covering nothing", good + "p, admin, *, nuke:*, *, any, allow\n", "policy.csv:2", `act "nuke:*"`},
		{"bad category", good + "p, officer, *, evidence:view, Felony, own, allow\n", "policy.csv:2", `cat "Felony"`},
		{"unknown scope", good + "p, officer, *, evidence:view, *, mine, allow\n", "policy.csv:2", `scope "mine"`},
		{"bad effect", good + "p, officer, *, evidence:view, *, own, permit\n", "policy.csv:2", `eft "permit"`},
		{"restricted allow", good + "p, officer, *, evidence:view, *, restricted, allow\n", "policy.csv:2", "deny rows only"},
		{"dock beyond upload", good + "p, dock, *, evidence:view, *, unit, allow\n", "policy.csv:2", "docks may only upload"},
		{"allow for every role", good + "p, *, *, evidence:view, *, any, allow\n", "policy.csv:2", "name the role"},
		{"too few columns", good + "p, officer, *, evidence:view, *, allow\n", "policy.csv:2", "want 6 columns"},
		{"too many columns", good + "p, officer, *, evidence:view, *, own, allow, x\n", "policy.csv:2", "want 6 columns"},
		{"g row", good + "g, alice, officer\n", "policy.csv:2", "only p rows"},
		{"duplicate", good + "\n" + good, "policy.csv:3", "duplicate of line 1"},
		{"broken quote", good + "p, \"officer, *, evidence:view, *, own, allow\n", "policy.csv:2", "not a CSV row"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := policy.NewAccess(accessFiles(tc.csv))
			if !errors.Is(err, policy.ErrInvalidPolicy) {
				t.Fatalf("err %v, want ErrInvalidPolicy", err)
			}
			var pe *policy.PolicyError
			if !errors.As(err, &pe) || !strings.Contains(err.Error(), tc.line+":") && !strings.Contains(err.Error(), tc.line+" ") || !strings.Contains(err.Error(), tc.has) {
				t.Fatalf("err %q, want %q and %q", err, tc.line, tc.has)
			}
		})
	}
}

func TestModelFileErrors(t *testing.T) {
	t.Parallel()
	model := string(policyconf.AccessModel())
	tests := []struct{ name, model, has string }{
		{"empty", "", "model is empty"},
		{"request reordered", strings.Replace(model, "r = role, subunit, badge", "r = subunit, role, badge", 1), "request_definition must be"},
		{"policy columns changed", strings.Replace(model, "p = role, unit, act, cat, scope, eft", "p = role, unit, act, eft", 1), "policy_definition must be"},
		{"other effect", strings.Replace(model, "e = some(where (p.eft == allow)) && !some(where (p.eft == deny))", "e = some(where (p.eft == allow))", 1), "policy_effect"},
		{"route matcher missing", model[:strings.Index(model, "# m2:")], "m2 is missing"},
		{"unknown function", strings.Replace(model, "unitWithin(r.unit, r.subunit)", "unitInside(r.unit, r.subunit)", 1), "matcher does not evaluate"},
		{"roles section", strings.Replace(model, "[policy_effect]", "[role_definition]\ng = _, _\n\n[policy_effect]", 1), "role_definition"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := policy.StaticSource{ModelName: "model.conf", Model: []byte(tc.model), PolicyName: "p.csv", Policy: policyconf.AccessPolicy()}
			_, err := policy.NewAccess(src)
			if err == nil || !strings.Contains(err.Error(), tc.has) {
				t.Fatalf("err %v, want %q", err, tc.has)
			}
		})
	}
}

// Rows for a named unit cover that unit and its sub-units only.
func TestUnitSpecificRows(t *testing.T) {
	t.Parallel()
	csv := `p, supervisor, *, evidence:view, *, unit, allow
p, supervisor, traffic, evidence:download, *, unit, allow
p, records, patrol, evidence:play, *, any, allow
p, supervisor, traffic.motors, evidence:view, *, any, deny
`
	a, err := policy.NewAccess(accessFiles(csv))
	if err != nil {
		t.Fatal(err)
	}
	sup := policy.Subject{Role: policy.RoleSupervisor, UnitPath: "traffic"}
	rec := policy.Subject{Role: policy.RoleRecords, UnitPath: "records"}
	tests := []struct {
		sub   policy.Subject
		act   policy.Action
		unit  string
		want  bool
		route bool
	}{
		{sup, policy.ActEvidenceDownload, "traffic", true, true},
		{sup, policy.ActEvidenceDownload, "traffic.nights", true, true},
		{sup, policy.ActEvidenceView, "traffic.motors", false, true}, // deny row for the sub-unit
		{sup, policy.ActEvidenceView, "traffic.motors.east", false, true},
		{sup, policy.ActEvidenceView, "traffic.nights", true, true},
		{policy.Subject{Role: policy.RoleSupervisor, UnitPath: "patrol"}, policy.ActEvidenceDownload, "patrol", false, false},
		// a supervisor of the whole agency branch above traffic acts there too
		{policy.Subject{Role: policy.RoleSupervisor, UnitPath: "traffic.nights"}, policy.ActEvidenceDownload, "traffic.nights", true, true},
		{policy.Subject{Role: policy.RoleSupervisor, UnitPath: "traffic.nights"}, policy.ActEvidenceDownload, "traffic", false, true},
		{rec, policy.ActEvidencePlay, "patrol.north", true, true},
		{rec, policy.ActEvidencePlay, "traffic", false, true},
	}
	for _, tc := range tests {
		d, err := a.Decide(tc.sub, tc.act, policy.Resource{UnitPath: tc.unit})
		if err != nil {
			t.Fatal(err)
		}
		if d.Allowed != tc.want {
			t.Errorf("%s@%s %s on %s: got %v (%s)", tc.sub.Role, tc.sub.UnitPath, tc.act, tc.unit, d.Allowed, d.Rule)
		}
		r, err := a.RouteDecision(tc.sub, tc.act)
		if err != nil {
			t.Fatal(err)
		}
		if r.Allowed != tc.route {
			t.Errorf("%s@%s %s route: got %v (%s)", tc.sub.Role, tc.sub.UnitPath, tc.act, r.Allowed, r.Rule)
		}
	}
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func TestReloadKeepsOldPolicyOnError(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	src := policy.FileSource{ModelPath: filepath.Join(dir, "model.conf"), PolicyPath: filepath.Join(dir, "policy.csv")}
	writeFile(t, src.ModelPath, string(policyconf.AccessModel()))
	writeFile(t, src.PolicyPath, "p, officer, *, evidence:view, *, own, allow\n")
	a, err := policy.NewAccess(src)
	if err != nil {
		t.Fatal(err)
	}
	sub := policy.Subject{Role: policy.RoleOfficer, UnitPath: "patrol", Badge: "7"}
	item := policy.Resource{UnitPath: "patrol", OfficerID: "8"}
	view := func() bool {
		d, err := a.Decide(sub, policy.ActEvidenceView, item)
		if err != nil {
			t.Fatal(err)
		}
		return d.Allowed
	}
	if view() {
		t.Fatal("colleague's recording allowed before the edit")
	}
	writeFile(t, src.PolicyPath, "p, officer, *, evidence:view, *, unit, allow\n")
	if err := a.Reload(); err != nil {
		t.Fatal(err)
	}
	if !view() {
		t.Fatal("edit not in force after Reload")
	}
	writeFile(t, src.PolicyPath, "p, officer, *, evidence:view, *, everything, allow\n")
	if err := a.Reload(); !errors.Is(err, policy.ErrInvalidPolicy) || !strings.Contains(err.Error(), "policy.csv:1") {
		t.Fatalf("broken file reloaded: %v", err)
	}
	if !view() {
		t.Fatal("old policy not kept after a failed reload")
	}
	if err := os.Remove(src.PolicyPath); err != nil {
		t.Fatal(err)
	}
	if err := a.Reload(); err == nil {
		t.Fatal("reload of a missing file succeeded")
	}
	if !view() {
		t.Fatal("old policy not kept after the file vanished")
	}
}

func TestWatchReloadsOnChange(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	src := policy.FileSource{ModelPath: filepath.Join(dir, "model.conf"), PolicyPath: filepath.Join(dir, "policy.csv")}
	writeFile(t, src.ModelPath, string(policyconf.AccessModel()))
	writeFile(t, src.PolicyPath, "p, admin, *, admin:users, *, any, allow\n")
	a, err := policy.NewAccess(src)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type outcome struct {
		version string
		err     error
	}
	reports := make(chan outcome, 16)
	go a.Watch(ctx, 5*time.Millisecond, func(v string, err error) { reports <- outcome{v, err} })

	admin := policy.Subject{Role: policy.RoleAdmin, UnitPath: "hq"}
	// A broken edit is reported and changes nothing.
	writeFile(t, src.PolicyPath, "p, admin, *, admin:users, *, any, allow\np, admin, *, admin:docks, *, any, maybe\n")
	if r := <-reports; r.err == nil {
		t.Fatal("broken edit reloaded without error")
	}
	if d, _ := a.RouteDecision(admin, policy.ActAdminUsers); !d.Allowed {
		t.Fatal("old policy lost after a broken edit")
	}
	// A good edit is picked up; the report arrives after the swap.
	writeFile(t, src.PolicyPath, "p, admin, *, admin:docks, *, any, allow\n# with a different size\n")
	if r := <-reports; r.err != nil {
		t.Fatalf("good edit: %v", r.err)
	}
	if d, _ := a.RouteDecision(admin, policy.ActAdminDocks); !d.Allowed {
		t.Fatalf("new row not in force: %+v", d)
	}
	if d, _ := a.RouteDecision(admin, policy.ActAdminUsers); d.Allowed {
		t.Fatal("removed row still in force")
	}
}
