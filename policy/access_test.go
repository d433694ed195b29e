package policy_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	policyconf "github.com/opendems/opendems/configs/policy"
	"github.com/opendems/opendems/policy"
)

func defaultAccess(t testing.TB) *policy.Access {
	t.Helper()
	a, err := policy.NewAccess(policy.StaticSource{
		ModelName: policyconf.AccessModelName, Model: policyconf.AccessModel(),
		PolicyName: policyconf.AccessPolicyName, Policy: policyconf.AccessPolicy(),
	})
	if err != nil {
		t.Fatalf("load default access policy: %v", err)
	}
	return a
}

// subjects of the matrix: one per role, each in its own unit.
func matrixSubject(role policy.Role) policy.Subject {
	s := policy.Subject{ID: "u-" + string(role), Kind: policy.KindUser, Role: role}
	switch role {
	case policy.RoleOfficer:
		s.UnitPath, s.Badge = "patrol.north", "1001"
	case policy.RoleSupervisor:
		s.UnitPath, s.Badge = "patrol", "2001"
	case policy.RoleRecords:
		s.UnitPath, s.Badge = "records", "3001"
	case policy.RoleAuditor:
		s.UnitPath, s.Badge = "audit", "4001"
	case policy.RoleAdmin:
		s.UnitPath, s.Badge = "hq", "5001"
	case policy.RoleDock:
		s.Kind, s.UnitPath = policy.KindDock, "patrol.north"
	}
	return s
}

// situations of the matrix, in the column order of the expectation strings.
var situations = []struct {
	name   string
	res    func(s policy.Subject) policy.Resource
	member bool // the subject belongs to the restricted item's group
}{
	{"own unit", func(s policy.Subject) policy.Resource {
		return policy.Resource{UnitPath: s.UnitPath, OfficerID: "9999", Categories: []string{"traffic"}}
	}, false},
	{"sub-unit", func(s policy.Subject) policy.Resource {
		return policy.Resource{UnitPath: s.UnitPath + ".k9", OfficerID: "9999", Categories: []string{"traffic"}}
	}, false},
	{"other unit", func(s policy.Subject) policy.Resource {
		return policy.Resource{UnitPath: "investigations", OfficerID: "9999", Categories: []string{"traffic"}}
	}, false},
	{"own recording", func(s policy.Subject) policy.Resource {
		return policy.Resource{UnitPath: "investigations", OfficerID: s.Badge, Categories: []string{"traffic"}}
	}, false},
	{"restricted", func(s policy.Subject) policy.Resource {
		return policy.Resource{UnitPath: "investigations", OfficerID: s.Badge, Categories: []string{"traffic"}, Restricted: "internal-affairs"}
	}, false},
	{"restricted, member", func(s policy.Subject) policy.Resource {
		return policy.Resource{UnitPath: "investigations", OfficerID: s.Badge, Categories: []string{"traffic"}, Restricted: "internal-affairs"}
	}, true},
}

// Expected decisions: six item columns (situations above) then, after a
// space, the route decision. Actions not listed for a role: all denied.
var matrix = map[policy.Role]map[policy.Action]string{
	policy.RoleOfficer: {
		"evidence:list": "NNNYNY Y", "evidence:view": "NNNYNY Y", "evidence:play": "NNNYNY Y",
		"evidence:edit": "NNNYNY Y", "evidence:categorize": "NNNYNY Y", "custody:read": "NNNYNY Y",
		"evidence:upload": "YYNNNN Y",
	},
	policy.RoleSupervisor: {
		"evidence:list": "YYNYNY Y", "evidence:view": "YYNYNY Y", "evidence:play": "YYNYNY Y",
		"evidence:download": "YYNNNY Y", "custody:read": "YYNNNY Y",
		"evidence:edit": "YYNNNN Y", "evidence:categorize": "YYNNNN Y", "evidence:upload": "YYNNNN Y",
		"case:read": "YYNNNN Y", "case:edit": "YYNNNN Y", "policy:explain": "YYNNNN Y",
	},
	policy.RoleRecords: {
		"evidence:list": "YYYYNY Y", "evidence:view": "YYYYNY Y", "evidence:play": "YYYYNY Y",
		"evidence:download": "YYYYNY Y", "evidence:categorize": "YYYYNY Y", "evidence:hold": "YYYYNY Y",
		"custody:read": "YYYYNY Y", "custody:export": "YYYYNY Y", "case:read": "YYYYNY Y",
		"request:read": "YYYYNY Y", "request:edit": "YYYYNY Y", "subject-request:create": "YYYYNY Y", "redaction:create": "YYYYNY Y",
		"redaction:approve": "YYYYNY Y", "release:create": "YYYYNY Y", "release:approve": "YYYYNY Y",
	},
	policy.RoleAuditor: {
		"evidence:list": "YYYYNY Y", "evidence:view": "YYYYNY Y", "custody:read": "YYYYNY Y",
		"custody:export": "YYYYNY Y", "case:read": "YYYYNY Y", "request:read": "YYYYNY Y",
		"audit:read": "YYYYNY Y", "policy:explain": "YYYYNY Y",
	},
	policy.RoleAdmin: {
		"admin:users": "YYYYNY Y", "admin:units": "YYYYNY Y", "admin:docks": "YYYYNY Y",
		"admin:retention": "YYYYNY Y", "purge:schedule": "YYYYNY Y", "purge:cancel": "YYYYNY Y",
		"evidence:list": "YYYYNY Y", "evidence:view": "YYYYNY Y", "evidence:hold": "YYYYNY Y",
		"evidence:restrict": "YYYYNY Y", "case:read": "YYYYNY Y", "case:hold": "YYYYNY Y",
		"custody:read": "YYYYNY Y", "audit:read": "YYYYNY Y", "policy:explain": "YYYYNY Y",
	},
	policy.RoleDock: {
		"evidence:upload": "YYNNNN Y",
	},
}

func TestAccessMatrix(t *testing.T) {
	t.Parallel()
	a := defaultAccess(t)
	for _, role := range policy.Roles() {
		for act := range matrix[role] {
			if !act.Valid() {
				t.Fatalf("matrix names unknown action %q", act)
			}
		}
		for _, act := range policy.Actions() {
			want, ok := matrix[role][act]
			if !ok {
				want = "NNNNNN N"
			}
			for i, sit := range situations {
				sub := matrixSubject(role)
				if sit.member {
					sub.Groups = []string{"internal-affairs"}
				}
				res := sit.res(sub)
				d, err := a.Decide(sub, act, res)
				if err != nil {
					t.Fatalf("%s %s %s: %v", role, act, sit.name, err)
				}
				if got := yn(d.Allowed); got != want[i] {
					t.Errorf("%s %s on %s: got %c want %c (rule %q, reason %q)", role, act, sit.name, got, want[i], d.Rule, d.Reason)
				}
				checkExplained(t, d)
			}
			d, err := a.RouteDecision(matrixSubject(role), act)
			if err != nil {
				t.Fatalf("%s %s route: %v", role, act, err)
			}
			if got := yn(d.Allowed); got != want[7] {
				t.Errorf("%s %s route: got %c want %c (rule %q, reason %q)", role, act, got, want[7], d.Rule, d.Reason)
			}
			checkExplained(t, d)
		}
	}
}

func yn(b bool) byte {
	if b {
		return 'Y'
	}
	return 'N'
}

// checkExplained: every decision quotes the row that made it, or says the
// default deny applied.
func checkExplained(t *testing.T, d policy.Decision) {
	t.Helper()
	switch {
	case d.Allowed && (!strings.HasSuffix(d.Rule, ", allow") || d.Source == ""):
		t.Errorf("allow without its allow rule: %+v", d)
	case !d.Allowed && d.Rule == "" && d.Reason != policy.NoRuleMatched:
		t.Errorf("default deny without the default reason: %+v", d)
	case !d.Allowed && d.Rule != "" && !strings.HasSuffix(d.Rule, ", deny"):
		t.Errorf("deny quoting an allow rule: %+v", d)
	case d.Reason == "":
		t.Errorf("decision without a reason: %+v", d)
	}
}

func TestDecisionExplains(t *testing.T) {
	t.Parallel()
	a := defaultAccess(t)
	officer := matrixSubject(policy.RoleOfficer)
	supervisor := matrixSubject(policy.RoleSupervisor)
	tests := []struct {
		name       string
		sub        policy.Subject
		act        policy.Action
		res        *policy.Resource
		allowed    bool
		rule       string
		reasonHas  string
		sourceLine bool
	}{
		{"supervisor views sub-unit item", supervisor, policy.ActEvidenceView,
			&policy.Resource{UnitPath: "patrol.north", OfficerID: "1001"}, true,
			"p, supervisor, *, evidence:view, *, unit, allow", "within the subject's unit patrol", true},
		{"officer views own", officer, policy.ActEvidenceView,
			&policy.Resource{UnitPath: "patrol.north", OfficerID: "1001"}, true,
			"p, officer, *, evidence:view, *, own, allow", "subject's own (officer 1001)", true},
		{"officer may not downgrade a felony", officer, policy.ActEvidenceCategorize,
			&policy.Resource{UnitPath: "patrol.north", OfficerID: "1001", Categories: []string{"felony"}}, false,
			"p, officer, *, evidence:categorize, felony, any, deny", "categorized felony", true},
		{"officer edits own homicide: denied", officer, policy.ActEvidenceEdit,
			&policy.Resource{UnitPath: "patrol.north", OfficerID: "1001", Categories: []string{"traffic", "homicide"}}, false,
			"p, officer, *, evidence:edit, homicide, any, deny", "categorized homicide", true},
		{"officer views colleague's: default deny", officer, policy.ActEvidenceView,
			&policy.Resource{UnitPath: "patrol.north", OfficerID: "1002"}, false, "", policy.NoRuleMatched, false},
		{"restricted beats supervisor", supervisor, policy.ActEvidenceView,
			&policy.Resource{UnitPath: "patrol", Restricted: "internal-affairs"}, false,
			"p, *, *, *, *, restricted, deny", "not a member", true},
		{"auditor download: explicit deny", matrixSubject(policy.RoleAuditor), policy.ActEvidenceDownload,
			&policy.Resource{UnitPath: "patrol"}, false,
			"p, auditor, *, evidence:download, *, any, deny", "agency-wide", true},
		{"route: admin users", matrixSubject(policy.RoleAdmin), policy.ActAdminUsers, nil, true,
			"p, admin, *, admin:*, *, any, allow", "route decision", true},
		{"route: auditor download denied by deny row", matrixSubject(policy.RoleAuditor), policy.ActEvidenceDownload, nil, false,
			"p, auditor, *, evidence:download, *, any, deny", "route decision", true},
		{"route: dock list denied", matrixSubject(policy.RoleDock), policy.ActEvidenceList, nil, false,
			"", policy.NoRuleMatched, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, err := a.Explain(tc.sub, tc.act, tc.res)
			if err != nil {
				t.Fatal(err)
			}
			if e.Allowed != tc.allowed || e.Rule != tc.rule || !strings.Contains(e.Reason, tc.reasonHas) {
				t.Fatalf("got allowed=%v rule=%q reason=%q; want %v %q ~%q", e.Allowed, e.Rule, e.Reason, tc.allowed, tc.rule, tc.reasonHas)
			}
			if tc.sourceLine != strings.HasPrefix(e.Source, policyconf.AccessPolicyName+":") {
				t.Fatalf("source %q", e.Source)
			}
			wantMode := "item"
			if tc.res == nil {
				wantMode = "route"
			}
			if e.Mode != wantMode || len(e.Request) != 9 || e.Request[4] != string(tc.act) {
				t.Fatalf("explanation echo: mode %q request %q", e.Mode, e.Request)
			}
		})
	}
}

// A deny that overrode an allow names the allow it overrode.
func TestExplainOverridden(t *testing.T) {
	t.Parallel()
	a := defaultAccess(t)
	officer := matrixSubject(policy.RoleOfficer)
	tests := []struct {
		name       string
		sub        policy.Subject
		act        policy.Action
		res        *policy.Resource
		overridden string
	}{
		{"restricted own recording", officer, policy.ActEvidenceView,
			&policy.Resource{UnitPath: "patrol.north", OfficerID: "1001", Restricted: "internal-affairs"},
			"p, officer, *, evidence:view, *, own, allow"},
		{"felony recategorize", officer, policy.ActEvidenceCategorize,
			&policy.Resource{UnitPath: "patrol.north", OfficerID: "1001", Categories: []string{"felony"}},
			"p, officer, *, evidence:categorize, *, own, allow"},
		{"deny with nothing overridden", matrixSubject(policy.RoleAuditor), policy.ActEvidenceDownload,
			&policy.Resource{UnitPath: "patrol"}, ""},
		{"default deny", officer, policy.ActEvidenceView,
			&policy.Resource{UnitPath: "patrol.north", OfficerID: "1002"}, ""},
		{"allowed", officer, policy.ActEvidenceView,
			&policy.Resource{UnitPath: "patrol.north", OfficerID: "1001"}, ""},
	}
	for _, tc := range tests {
		e, err := a.Explain(tc.sub, tc.act, tc.res)
		if err != nil {
			t.Fatal(err)
		}
		if e.Overridden != tc.overridden || (tc.overridden != "") != strings.HasPrefix(e.OverriddenSource, policyconf.AccessPolicyName+":") {
			t.Errorf("%s: overridden %q (%s), want %q", tc.name, e.Overridden, e.OverriddenSource, tc.overridden)
		}
	}
}

// The quoted rule is the policy file's own line.
func TestDecisionSourceIsTheLine(t *testing.T) {
	t.Parallel()
	a := defaultAccess(t)
	d, err := a.Decide(matrixSubject(policy.RoleRecords), policy.ActReleaseApprove, policy.Resource{UnitPath: "patrol"})
	if err != nil || !d.Allowed {
		t.Fatalf("%+v %v", d, err)
	}
	var line int
	if _, err := fmt.Sscanf(strings.TrimPrefix(d.Source, policyconf.AccessPolicyName+":"), "%d", &line); err != nil {
		t.Fatalf("source %q: %v", d.Source, err)
	}
	got := strings.TrimSpace(strings.Split(string(policyconf.AccessPolicy()), "\n")[line-1])
	if got != d.Rule {
		t.Fatalf("line %d is %q, rule is %q", line, got, d.Rule)
	}
}

func TestUnitWithin(t *testing.T) {
	t.Parallel()
	tests := []struct {
		unit, root string
		want       bool
	}{
		{"patrol", "patrol", true},
		{"patrol.north", "patrol", true},
		{"patrol.north.k9", "patrol", true},
		{"patrol-east", "patrol", false},
		{"patrolx", "patrol", false},
		{"patrol", "patrol.north", false},
		{"traffic", "patrol", false},
		{"anything", "*", true},
		{"", "patrol", false},
		{"patrol", "", false},
	}
	for _, tc := range tests {
		if got := policy.UnitWithin(tc.unit, tc.root); got != tc.want {
			t.Errorf("UnitWithin(%q, %q) = %v", tc.unit, tc.root, got)
		}
	}
}

// A sibling unit whose name shares a prefix is not a sub-unit.
func TestSupervisorPrefixSiblingDenied(t *testing.T) {
	t.Parallel()
	a := defaultAccess(t)
	d, err := a.Decide(matrixSubject(policy.RoleSupervisor), policy.ActEvidenceView, policy.Resource{UnitPath: "patrol-east"})
	if err != nil || d.Allowed {
		t.Fatalf("%+v %v", d, err)
	}
}

func TestBadInputs(t *testing.T) {
	t.Parallel()
	a := defaultAccess(t)
	ok := matrixSubject(policy.RoleOfficer)
	res := policy.Resource{UnitPath: "patrol"}
	tests := []struct {
		name string
		sub  policy.Subject
		act  policy.Action
		res  policy.Resource
		want error
	}{
		{"unknown role", policy.Subject{Role: "chief", UnitPath: "hq"}, policy.ActEvidenceView, res, policy.ErrInvalidSubject},
		{"dock with admin role", policy.Subject{Kind: policy.KindDock, Role: policy.RoleAdmin, UnitPath: "hq"}, policy.ActAdminUsers, res, policy.ErrInvalidSubject},
		{"user with dock role", policy.Subject{Kind: policy.KindUser, Role: policy.RoleDock, UnitPath: "hq"}, policy.ActEvidenceUpload, res, policy.ErrInvalidSubject},
		{"bad kind", policy.Subject{Kind: "robot", Role: policy.RoleOfficer, UnitPath: "hq"}, policy.ActEvidenceView, res, policy.ErrInvalidSubject},
		{"no unit", policy.Subject{Role: policy.RoleOfficer}, policy.ActEvidenceView, res, policy.ErrInvalidSubject},
		{"bad unit", policy.Subject{Role: policy.RoleOfficer, UnitPath: "Patrol..North"}, policy.ActEvidenceView, res, policy.ErrInvalidSubject},
		{"bad group", policy.Subject{Role: policy.RoleOfficer, UnitPath: "hq", Groups: []string{"IA group"}}, policy.ActEvidenceView, res, policy.ErrInvalidSubject},
		{"unknown action", ok, "evidence:delete", res, policy.ErrUnknownAction},
		{"wildcard action asked", ok, "evidence:*", res, policy.ErrUnknownAction},
		{"resource without unit", ok, policy.ActEvidenceView, policy.Resource{}, policy.ErrInvalidResource},
		{"resource bad category", ok, policy.ActEvidenceView, policy.Resource{UnitPath: "hq", Categories: []string{"Felony!"}}, policy.ErrInvalidResource},
		{"resource bad restriction", ok, policy.ActEvidenceView, policy.Resource{UnitPath: "hq", Restricted: "*"}, policy.ErrInvalidResource},
	}
	for _, tc := range tests {
		d, err := a.Decide(tc.sub, tc.act, tc.res)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: err %v, want %v", tc.name, err, tc.want)
		}
		if d.Allowed {
			t.Errorf("%s: allowed on error", tc.name)
		}
	}
	if _, err := policy.ParseAction("evidence:view"); err != nil {
		t.Fatal(err)
	}
	if _, err := policy.ParseAction("evidence:views"); !errors.Is(err, policy.ErrUnknownAction) {
		t.Fatal(err)
	}
}
