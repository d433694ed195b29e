package policy_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	policyconf "github.com/opendems/opendems/configs/policy"
	"github.com/opendems/opendems/policy"
)

// FuzzParseSchedule: any input either fails with ErrInvalidSchedule or
// yields a schedule whose every category computes a deadline that is never
// before the recording time.
func FuzzParseSchedule(f *testing.F) {
	f.Add(policyconf.Retention())
	f.Add([]byte(minimalSchedule))
	f.Add([]byte("version: 1\ndefault_category: a\ncategories: [{name: a, keep: indefinite}]\nflags: [{name: f, extend: 18m}]\nsubject_request: {extend: 6w}\n"))
	f.Add([]byte("version: 1\ncategories:\n  - name: a\n    keep: 200y\n"))
	f.Add([]byte("{version: 1, default_category: &x a, categories: [{name: *x, keep: 1d}], subject_request: {extend: 1d}}"))
	f.Add([]byte("---\n---\n"))
	f.Add([]byte("version: !!binary AQ==\n"))
	rec := time.Date(2024, 2, 29, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := policy.ParseSchedule(data)
		if err != nil {
			if !errors.Is(err, policy.ErrInvalidSchedule) {
				t.Fatalf("error without ErrInvalidSchedule: %v", err)
			}
			return
		}
		cats := s.Categories()
		if len(cats) == 0 {
			t.Fatal("valid schedule without categories")
		}
		for _, c := range cats {
			until, indef, why, err := s.RetainUntil(policy.ItemRetentionInput{RecordedAt: rec, Categories: []string{c.Name},
				Flags: []string{"use-of-force", "complaint"}, SubjectRequests: []time.Time{rec}})
			if err != nil {
				t.Fatalf("category %s: %v", c.Name, err)
			}
			if why == "" || (!indef && !until.After(rec)) || indef != until.IsZero() {
				t.Fatalf("category %s: until %v indefinite %v (%s)", c.Name, until, indef, why)
			}
		}
	})
}

// FuzzParsePeriod: accepted periods print back to an equal period, and
// adding one never moves a time backwards.
func FuzzParsePeriod(f *testing.F) {
	for _, s := range []string{"180d", "90 days", "6w", "18m", "2y", "10 years", "indefinite", "0d", "-1y", "201y", "1e3d", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := policy.ParsePeriod(s)
		if err != nil {
			return
		}
		q, err := policy.ParsePeriod(p.String())
		if err != nil || q != p {
			t.Fatalf("%q → %+v → %q → %+v, %v", s, p, p.String(), q, err)
		}
	})
}

// FuzzAccessPolicyCSV: any policy text either loads or fails with a
// *PolicyError naming the file; a loaded one decides without error.
func FuzzAccessPolicyCSV(f *testing.F) {
	f.Add(string(policyconf.AccessPolicy()))
	f.Add("p, officer, *, evidence:view, *, own, allow\n")
	f.Add("p, \"officer\", *, evidence:*, *, unit, allow\r\np, *, *, *, *, restricted, deny\n")
	f.Add("p,,,,,,\n")
	f.Fuzz(func(t *testing.T, csv string) {
		a, err := policy.NewAccess(policy.StaticSource{ModelName: "m", Model: policyconf.AccessModel(), PolicyName: "fuzz.csv", Policy: []byte(csv)})
		if err != nil {
			var pe *policy.PolicyError
			if !errors.As(err, &pe) || !strings.HasPrefix(err.Error(), "policy: reload access: fuzz.csv") {
				t.Fatalf("unlocated error: %v", err)
			}
			return
		}
		sub := policy.Subject{Role: policy.RoleDock, Kind: policy.KindDock, UnitPath: "a"}
		for _, act := range policy.Actions() {
			d, err := a.Decide(sub, act, policy.Resource{UnitPath: "a.b", Restricted: "g"})
			if err != nil {
				t.Fatal(err)
			}
			if d.Allowed && act != policy.ActEvidenceUpload {
				t.Fatalf("dock allowed %s by %q", act, d.Rule)
			}
		}
	})
}
