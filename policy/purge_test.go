package policy_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	policyconf "github.com/opendems/opendems/configs/policy"
	"github.com/opendems/opendems/policy"
)

func purgeFiles(csv string) policy.Files {
	return policy.Files{ModelName: policyconf.PurgeModelName, Model: policyconf.PurgeModel(),
		PolicyName: policyconf.PurgePolicyName, Policy: []byte(csv)}
}

func defaultPurge(t testing.TB) *policy.Purge {
	t.Helper()
	p, err := policy.NewPurge(purgeFiles(string(policyconf.PurgePolicy())), defaultSchedule(t))
	if err != nil {
		t.Fatalf("default purge policy: %v", err)
	}
	return p
}

func TestPurgeDecisions(t *testing.T) {
	t.Parallel()
	p := defaultPurge(t)
	rec := day("2024-01-01T00:00:00Z")
	end := day("2024-06-29T00:00:00Z") // rec + 180d (uncategorized)
	item := policy.ItemRetentionInput{RecordedAt: rec}
	tests := []struct {
		name    string
		in      policy.PurgeInput
		allowed bool
		rule    string
		reason  string
	}{
		{"one nanosecond before the end", policy.PurgeInput{Item: item, Now: end.Add(-time.Nanosecond)}, false,
			"p, purge, *, retention-running, deny", "retention runs until 2024-06-29T00:00:00Z"},
		{"exactly at the end", policy.PurgeInput{Item: item, Now: end}, true,
			"p, purge, *, retention-ended, allow", "may purge"},
		{"one nanosecond after", policy.PurgeInput{Item: item, Now: end.Add(time.Nanosecond)}, true,
			"p, purge, *, retention-ended, allow", "may purge"},
		{"same instant in another zone", policy.PurgeInput{Item: item, Now: end.In(time.FixedZone("EST", -5*3600))}, true,
			"p, purge, *, retention-ended, allow", ""},
		{"years later", policy.PurgeInput{Item: item, Now: rec.AddDate(10, 0, 0)}, true,
			"p, purge, *, retention-ended, allow", ""},
		{"item legal hold", policy.PurgeInput{Item: item, Now: end, ItemLegalHold: true}, false,
			"p, purge, *, legal-hold-item, deny", "the item is under legal hold"},
		{"case legal hold", policy.PurgeInput{Item: item, Now: end, CaseHolds: []string{"C-17"}}, false,
			"p, purge, *, legal-hold-case, deny", "case C-17 is under legal hold"},
		{"hold and running: hold is quoted", policy.PurgeInput{Item: item, Now: rec, ItemLegalHold: true}, false,
			"p, purge, *, legal-hold-item, deny", "retention runs until"},
		{"open access request", policy.PurgeInput{Item: policy.ItemRetentionInput{RecordedAt: rec, OpenAccessRequests: true}, Now: end.AddDate(1, 0, 0)}, false,
			"p, purge, *, open-access-request, deny", "a public access request is open"},
		{"indefinite category", policy.PurgeInput{Item: policy.ItemRetentionInput{RecordedAt: rec, Categories: []string{"homicide"}}, Now: rec.AddDate(150, 0, 0)}, false,
			"p, purge, *, retention-indefinite, deny", "retention is indefinite"},
		{"longest category decides", policy.PurgeInput{Item: policy.ItemRetentionInput{RecordedAt: rec, Categories: []string{"non-evidentiary", "traffic"}}, Now: end}, false,
			"p, purge, *, retention-running, deny", "2026-01-01T00:00:00Z"},
		{"flag extension", policy.PurgeInput{Item: policy.ItemRetentionInput{RecordedAt: rec, Flags: []string{"use-of-force"}}, Now: end}, false,
			"p, purge, *, retention-running, deny", "2027-06-29T00:00:00Z"},
		{"flag extension ended", policy.PurgeInput{Item: policy.ItemRetentionInput{RecordedAt: rec, Flags: []string{"use-of-force"}}, Now: day("2027-06-29T00:00:00Z")}, true,
			"p, purge, *, retention-ended, allow", ""},
		{"subject request boundary: before", policy.PurgeInput{Item: policy.ItemRetentionInput{RecordedAt: rec, SubjectRequests: []time.Time{day("2024-06-01T12:00:00Z")}}, Now: day("2024-11-28T11:59:59Z")}, false,
			"p, purge, *, retention-running, deny", "2024-11-28T12:00:00Z"},
		{"subject request boundary: at", policy.PurgeInput{Item: policy.ItemRetentionInput{RecordedAt: rec, SubjectRequests: []time.Time{day("2024-06-01T12:00:00Z")}}, Now: day("2024-11-28T12:00:00Z")}, true,
			"p, purge, *, retention-ended, allow", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, err := p.Decide(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if d.Allowed != tc.allowed || d.Rule != tc.rule || !strings.Contains(d.Reason, tc.reason) {
				t.Fatalf("got %v %q %q; want %v %q ~%q (facts %v)", d.Allowed, d.Rule, d.Reason, tc.allowed, tc.rule, tc.reason, d.Facts)
			}
			if !strings.HasPrefix(d.Source, policyconf.PurgePolicyName+":") || d.RetentionExplanation == "" {
				t.Fatalf("unexplained: %+v", d)
			}
		})
	}
}

func TestPurgeErrorsNeverAllow(t *testing.T) {
	t.Parallel()
	p := defaultPurge(t)
	rec := day("2020-01-01T00:00:00Z")
	tests := []struct {
		name string
		in   policy.PurgeInput
		want error
	}{
		{"no clock", policy.PurgeInput{Item: policy.ItemRetentionInput{RecordedAt: rec}}, policy.ErrInvalidRetentionInput},
		{"no recording time", policy.PurgeInput{Now: rec.AddDate(5, 0, 0)}, policy.ErrInvalidRetentionInput},
		{"unknown category", policy.PurgeInput{Item: policy.ItemRetentionInput{RecordedAt: rec, Categories: []string{"fellony"}}, Now: rec.AddDate(5, 0, 0)}, policy.ErrUnknownCategory},
	}
	for _, tc := range tests {
		d, err := p.Decide(tc.in)
		if !errors.Is(err, tc.want) || d.Allowed {
			t.Errorf("%s: %+v, err %v, want %v", tc.name, d, err, tc.want)
		}
	}
}

// An agency may make purging stricter per category.
func TestPurgeCategoryRow(t *testing.T) {
	t.Parallel()
	csv := string(policyconf.PurgePolicy()) + "p, purge, felony, retention-ended, deny\n"
	p, err := policy.NewPurge(purgeFiles(csv), defaultSchedule(t))
	if err != nil {
		t.Fatal(err)
	}
	rec := day("2000-01-01T00:00:00Z")
	d, err := p.Decide(policy.PurgeInput{Item: policy.ItemRetentionInput{RecordedAt: rec, Categories: []string{"felony"}}, Now: rec.AddDate(11, 0, 0)})
	if err != nil || d.Allowed || d.Rule != "p, purge, felony, retention-ended, deny" || !strings.Contains(d.Reason, "categorized felony") {
		t.Fatalf("%+v %v", d, err)
	}
	d, err = p.Decide(policy.PurgeInput{Item: policy.ItemRetentionInput{RecordedAt: rec, Categories: []string{"misdemeanor"}}, Now: rec.AddDate(11, 0, 0)})
	if err != nil || !d.Allowed {
		t.Fatalf("%+v %v", d, err)
	}
}

func TestPurgePolicyErrors(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, csv, has string }{
		{"allow on a hold", "p, purge, *, legal-hold-item, allow\n", "an allow row must have fact retention-ended"},
		{"allow while running", "p, purge, *, retention-running, allow\n", "an allow row must have fact retention-ended"},
		{"unknown fact", "p, purge, *, retention-over, allow\n", `fact "retention-over"`},
		{"other action", "p, delete, *, retention-ended, allow\n", `act "delete"`},
		{"columns", "p, purge, retention-ended, allow\n", "want 4 columns"},
		{"empty", "", "no policy rows"},
	}
	for _, tc := range tests {
		_, err := policy.NewPurge(purgeFiles(tc.csv), defaultSchedule(t))
		if !errors.Is(err, policy.ErrInvalidPolicy) || !strings.Contains(err.Error(), tc.has) {
			t.Errorf("%s: err %v, want %q", tc.name, err, tc.has)
		}
	}
	if _, err := policy.NewPurge(purgeFiles(string(policyconf.PurgePolicy())), nil); !errors.Is(err, policy.ErrInvalidSchedule) {
		t.Errorf("nil schedule: %v", err)
	}
}

// With no allow row at all, nothing is ever purged, and the reason is the
// default deny.
func TestPurgeDefaultDeny(t *testing.T) {
	t.Parallel()
	p, err := policy.NewPurge(purgeFiles("p, purge, *, legal-hold-item, deny\n"), defaultSchedule(t))
	if err != nil {
		t.Fatal(err)
	}
	rec := day("2000-01-01T00:00:00Z")
	d, err := p.Decide(policy.PurgeInput{Item: policy.ItemRetentionInput{RecordedAt: rec}, Now: rec.AddDate(20, 0, 0)})
	if err != nil || d.Allowed || d.Rule != "" || d.Reason != policy.NoRuleMatched {
		t.Fatalf("%+v %v", d, err)
	}
}
