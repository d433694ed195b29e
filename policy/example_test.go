package policy_test

import (
	"fmt"
	"time"

	policyconf "github.com/opendems/opendems/configs/policy"
	"github.com/opendems/opendems/policy"
)

// The API middleware builds a Subject from the authenticated principal and
// a Resource from the item row, and asks.
func ExampleAccess_Decide() {
	access, err := policy.NewAccess(policy.StaticSource{
		ModelName: policyconf.AccessModelName, Model: policyconf.AccessModel(),
		PolicyName: policyconf.AccessPolicyName, Policy: policyconf.AccessPolicy(),
	})
	if err != nil {
		panic(err)
	}
	sergeant := policy.Subject{ID: "u-17", Role: policy.RoleSupervisor, UnitPath: "patrol", Badge: "2001"}
	item := policy.Resource{Kind: "evidence", ID: "e-1", UnitPath: "patrol.north", OfficerID: "1001", Categories: []string{"traffic"}}

	d, _ := access.Decide(sergeant, policy.ActEvidencePlay, item)
	fmt.Println(d.Allowed, "|", d.Rule, "|", d.Reason)

	item.Restricted = "internal-affairs"
	d, _ = access.Decide(sergeant, policy.ActEvidencePlay, item)
	fmt.Println(d.Allowed, "|", d.Rule, "|", d.Reason)

	d, _ = access.RouteDecision(sergeant, policy.ActAdminUsers)
	fmt.Println(d.Allowed, "|", d.Reason)
	// Output:
	// true | p, supervisor, *, evidence:play, *, unit, allow | allowed: the item's unit patrol.north is within the subject's unit patrol
	// false | p, *, *, *, *, restricted, deny | denied: the item is restricted to group internal-affairs and the subject is not a member
	// false | no rule matched → deny (default)
}

// The retention sweep asks the purge decider about each candidate item.
func ExamplePurge_Decide() {
	sched, err := policy.ParseSchedule(policyconf.Retention())
	if err != nil {
		panic(err)
	}
	purge, err := policy.NewPurge(policy.Files{
		ModelName: policyconf.PurgeModelName, Model: policyconf.PurgeModel(),
		PolicyName: policyconf.PurgePolicyName, Policy: policyconf.PurgePolicy(),
	}, sched)
	if err != nil {
		panic(err)
	}
	recorded := time.Date(2023, 5, 1, 9, 0, 0, 0, time.UTC)
	d, _ := purge.Decide(policy.PurgeInput{
		ItemID:    "e-1",
		Item:      policy.ItemRetentionInput{RecordedAt: recorded, Categories: []string{"traffic"}},
		Now:       time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC),
		CaseHolds: []string{"2025-CR-0042"},
	})
	fmt.Println(d.Allowed, "|", d.Rule, "|", d.Reason)
	fmt.Println(d.RetentionExplanation)
	// Output:
	// false | p, purge, *, legal-hold-case, deny | may not purge: case 2025-CR-0042 is under legal hold
	// recorded 2023-05-01T09:00:00Z; category traffic keeps 2y → 2025-05-01T09:00:00Z; retain until 2025-05-01T09:00:00Z
}
