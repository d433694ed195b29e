package policy_test

import (
	"reflect"
	"testing"

	"github.com/opendems/opendems/policy"
)

func TestListScope(t *testing.T) {
	t.Parallel()
	a := defaultAccess(t)
	ia := matrixSubject(policy.RoleSupervisor)
	ia.Groups = []string{"internal-affairs"}
	tests := []struct {
		name string
		sub  policy.Subject
		want policy.ListScope
	}{
		{"officer: own recordings", matrixSubject(policy.RoleOfficer), policy.ListScope{OwnerBadge: "1001"}},
		{"supervisor: unit and own", matrixSubject(policy.RoleSupervisor), policy.ListScope{Units: []string{"patrol"}, OwnerBadge: "2001"}},
		{"supervisor in a group", ia, policy.ListScope{Units: []string{"patrol"}, OwnerBadge: "2001", Groups: []string{"internal-affairs"}}},
		{"records: everything", matrixSubject(policy.RoleRecords), policy.ListScope{AllUnits: true}},
		{"dock: nothing", matrixSubject(policy.RoleDock), policy.ListScope{}},
	}
	for _, tc := range tests {
		got, err := a.ListScope(tc.sub, policy.ActEvidenceList)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: %+v, want %+v", tc.name, got, tc.want)
		}
	}
	if s, _ := a.ListScope(matrixSubject(policy.RoleDock), policy.ActEvidenceList); !s.Empty() {
		t.Error("dock scope not empty")
	}
}

// Every item a subject is allowed to view lies inside its list scope, over
// random requests against the realistic policy.
func TestListScopeIsSuperset(t *testing.T) {
	t.Parallel()
	a, _, units := realisticAccess(t)
	inside := 0
	for _, s := range samples(units, 3000) {
		for _, act := range []policy.Action{policy.ActEvidenceView, policy.ActEvidenceDownload} {
			d, err := a.Decide(s.sub, act, s.res)
			if err != nil {
				t.Fatal(err)
			}
			scope, err := a.ListScope(s.sub, act)
			if err != nil {
				t.Fatal(err)
			}
			if d.Allowed && !scope.Matches(s.res) {
				t.Fatalf("%s allowed %s on %+v by %q, outside scope %+v", s.sub.Role, act, s.res, d.Rule, scope)
			}
			if scope.Matches(s.res) {
				inside++
			}
		}
	}
	if inside == 0 || inside == 6000 {
		t.Fatalf("degenerate: %d inside", inside)
	}
}
