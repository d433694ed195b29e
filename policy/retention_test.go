package policy_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	policyconf "github.com/opendems/opendems/configs/policy"
	"github.com/opendems/opendems/policy"
)

func defaultSchedule(t testing.TB) *policy.Schedule {
	t.Helper()
	s, err := policy.ParseSchedule(policyconf.Retention())
	if err != nil {
		t.Fatalf("default retention schedule: %v", err)
	}
	return s
}

func day(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestRetainUntil(t *testing.T) {
	t.Parallel()
	s := defaultSchedule(t)
	rec := day("2024-03-10T14:30:00Z")
	tests := []struct {
		name       string
		in         policy.ItemRetentionInput
		until      string // RFC 3339; "" with indefinite
		indefinite bool
		explains   []string
	}{
		{"uncategorized by default", policy.ItemRetentionInput{RecordedAt: rec},
			"2024-09-06T14:30:00Z", false, []string{"category uncategorized keeps 180d"}},
		{"non-evidentiary", policy.ItemRetentionInput{RecordedAt: rec, Categories: []string{"non-evidentiary"}},
			"2024-06-08T14:30:00Z", false, []string{"90d"}},
		{"traffic", policy.ItemRetentionInput{RecordedAt: rec, Categories: []string{"traffic"}},
			"2026-03-10T14:30:00Z", false, []string{"traffic keeps 2y"}},
		{"misdemeanor", policy.ItemRetentionInput{RecordedAt: rec, Categories: []string{"misdemeanor"}},
			"2027-03-10T14:30:00Z", false, nil},
		{"felony", policy.ItemRetentionInput{RecordedAt: rec, Categories: []string{"felony"}},
			"2034-03-10T14:30:00Z", false, nil},
		{"homicide", policy.ItemRetentionInput{RecordedAt: rec, Categories: []string{"homicide"}},
			"", true, []string{"homicide is kept indefinitely"}},
		{"longest of several", policy.ItemRetentionInput{RecordedAt: rec, Categories: []string{"traffic", "felony", "misdemeanor"}},
			"2034-03-10T14:30:00Z", false, []string{"category felony", "longest of traffic, felony, misdemeanor"}},
		{"indefinite wins among several", policy.ItemRetentionInput{RecordedAt: rec, Categories: []string{"felony", "homicide"}},
			"", true, nil},
		{"use-of-force adds 3y to the category", policy.ItemRetentionInput{RecordedAt: rec, Categories: []string{"traffic"}, Flags: []string{"use-of-force"}},
			"2029-03-10T14:30:00Z", false, []string{"flag use-of-force extends by 3y"}},
		{"largest flag only", policy.ItemRetentionInput{RecordedAt: rec, Categories: []string{"traffic"}, Flags: []string{"complaint", "use-of-force"}},
			"2029-03-10T14:30:00Z", false, nil},
		{"unknown flags ignored", policy.ItemRetentionInput{RecordedAt: rec, Flags: []string{"starred"}},
			"2024-09-06T14:30:00Z", false, nil},
		{"subject request late in retention", policy.ItemRetentionInput{RecordedAt: rec, SubjectRequests: []time.Time{day("2024-08-01T09:00:00Z")}},
			"2025-01-28T09:00:00Z", false, []string{"subject request of 2024-08-01T09:00:00Z keeps it 180d"}},
		{"subject request that ends earlier changes nothing", policy.ItemRetentionInput{RecordedAt: rec, Categories: []string{"felony"}, SubjectRequests: []time.Time{day("2024-08-01T09:00:00Z")}},
			"2034-03-10T14:30:00Z", false, nil},
		{"latest of several requests", policy.ItemRetentionInput{RecordedAt: rec, SubjectRequests: []time.Time{day("2024-08-01T09:00:00Z"), day("2024-09-01T09:00:00Z")}},
			"2025-02-28T09:00:00Z", false, nil},
		{"open access request holds", policy.ItemRetentionInput{RecordedAt: rec, OpenAccessRequests: true},
			"", true, []string{"public access request is open"}},
		{"no recording time: ingest", policy.ItemRetentionInput{IngestedAt: rec},
			"2024-09-06T14:30:00Z", false, []string{"counted from ingest"}},
		{"recording time wins over ingest", policy.ItemRetentionInput{RecordedAt: rec, IngestedAt: rec.AddDate(0, 0, 30)},
			"2024-09-06T14:30:00Z", false, nil},
		{"leap day plus 2y", policy.ItemRetentionInput{RecordedAt: day("2024-02-29T23:00:00Z"), Categories: []string{"traffic"}},
			"2026-03-01T23:00:00Z", false, nil},
		{"local time zone counted in UTC", policy.ItemRetentionInput{RecordedAt: day("2024-03-09T23:30:00-08:00"), Categories: []string{"non-evidentiary"}},
			"2024-06-08T07:30:00Z", false, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			until, indef, why, err := s.RetainUntil(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if indef != tc.indefinite {
				t.Fatalf("indefinite %v, want %v (%s)", indef, tc.indefinite, why)
			}
			if !tc.indefinite && !until.Equal(day(tc.until)) {
				t.Fatalf("until %s, want %s (%s)", until.Format(time.RFC3339), tc.until, why)
			}
			if tc.indefinite && !until.IsZero() {
				t.Fatalf("indefinite with a time %s", until)
			}
			for _, w := range tc.explains {
				if !strings.Contains(why, w) {
					t.Fatalf("explanation %q lacks %q", why, w)
				}
			}
		})
	}
}

func TestRetainUntilErrors(t *testing.T) {
	t.Parallel()
	s := defaultSchedule(t)
	rec := day("2024-03-10T14:30:00Z")
	tests := []struct {
		name string
		in   policy.ItemRetentionInput
		want error
	}{
		{"no time at all", policy.ItemRetentionInput{}, policy.ErrInvalidRetentionInput},
		{"unknown category", policy.ItemRetentionInput{RecordedAt: rec, Categories: []string{"felony", "homocide"}}, policy.ErrUnknownCategory},
		{"request without time", policy.ItemRetentionInput{RecordedAt: rec, SubjectRequests: []time.Time{{}}}, policy.ErrInvalidRetentionInput},
	}
	for _, tc := range tests {
		if _, _, _, err := s.RetainUntil(tc.in); !errors.Is(err, tc.want) {
			t.Errorf("%s: err %v, want %v", tc.name, err, tc.want)
		}
	}
}

const minimalSchedule = `version: 1
default_category: a
categories:
  - name: a
    keep: 30d
subject_request:
  extend: 10d
`

func TestParseScheduleErrors(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, yaml, has string }{
		{"empty", "", "document is empty"},
		{"not a mapping", "- 1\n- 2\n", "cannot unmarshal"},
		{"unknown top-level field", minimalSchedule + "purge_after: 3d\n", "field purge_after not found"},
		{"unknown category field", strings.Replace(minimalSchedule, "keep: 30d", "keep: 30d\n    kep: 3d", 1), "field kep not found"},
		{"two documents", minimalSchedule + "---\nversion: 1\n", "one YAML document"},
		{"version", strings.Replace(minimalSchedule, "version: 1", "version: 2", 1), "version: \"2\": must be 1"},
		{"no categories", "version: 1\ndefault_category: a\nsubject_request:\n  extend: 1d\n", "categories: must list"},
		{"bad category name", strings.Replace(minimalSchedule, "name: a", "name: Felony Cases", 1), "categories[0].name"},
		{"bad period", strings.Replace(minimalSchedule, "keep: 30d", "keep: 30 fortnights", 1), `categories[0].keep: "30 fortnights"`},
		{"zero period", strings.Replace(minimalSchedule, "keep: 30d", "keep: 0d", 1), "categories[0].keep: \"0d\": period must be longer than zero"},
		{"negative period", strings.Replace(minimalSchedule, "keep: 30d", "keep: -3d", 1), "categories[0].keep"},
		{"huge period", strings.Replace(minimalSchedule, "keep: 30d", "keep: 999999y", 1), "categories[0].keep"},
		{"missing keep", strings.Replace(minimalSchedule, "    keep: 30d\n", "", 1), "categories[0].keep"},
		{"duplicate category", strings.Replace(minimalSchedule, "subject_request", "  - name: a\n    keep: 3d\nsubject_request", 1), "categories[1].name: \"a\": category is listed twice"},
		{"default not a category", strings.Replace(minimalSchedule, "default_category: a", "default_category: b", 1), "default_category: \"b\": is not one of the categories"},
		{"default missing", strings.Replace(minimalSchedule, "default_category: a\n", "", 1), "default_category: must name"},
		{"flag period", minimalSchedule + "flags:\n  - name: uof\n    extend: soon\n", "flags[0].extend"},
		{"flag name", minimalSchedule + "flags:\n  - name: Use Of Force\n    extend: 1y\n", "flags[0].name"},
		{"flag twice", minimalSchedule + "flags:\n  - name: uof\n    extend: 1y\n  - name: uof\n    extend: 2y\n", "flags[1].name"},
		{"subject request missing", strings.Replace(minimalSchedule, "subject_request:\n  extend: 10d\n", "", 1), "subject_request.extend"},
		{"subject request forever", strings.Replace(minimalSchedule, "extend: 10d", "extend: indefinite", 1), "subject_request.extend"},
		{"keep as a list", strings.Replace(minimalSchedule, "keep: 30d", "keep: [30d]", 1), "cannot unmarshal"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := policy.ParseSchedule([]byte(tc.yaml))
			if !errors.Is(err, policy.ErrInvalidSchedule) || !strings.Contains(err.Error(), tc.has) {
				t.Fatalf("err %v, want ErrInvalidSchedule containing %q", err, tc.has)
			}
		})
	}
	if _, err := policy.ParseSchedule([]byte(minimalSchedule)); err != nil {
		t.Fatalf("minimal schedule: %v", err)
	}
}

func TestValidateNamesField(t *testing.T) {
	t.Parallel()
	c := policy.ScheduleConfig{Version: 1, DefaultCategory: "a",
		Categories:     []policy.CategoryRule{{Name: "a", Keep: "1y"}, {Name: "b", Keep: "often"}},
		SubjectRequest: policy.SubjectRequestRule{Extend: "1d"}}
	var fe *policy.FieldError
	if err := c.Validate(); !errors.As(err, &fe) || fe.Field != "categories[1].keep" || fe.Value != "often" {
		t.Fatalf("got %v", err)
	}
}

func TestParsePeriod(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want policy.Period
	}{
		{"180d", policy.Period{Days: 180}},
		{"180 days", policy.Period{Days: 180}},
		{"1 day", policy.Period{Days: 1}},
		{"6w", policy.Period{Days: 42}},
		{"18m", policy.Period{Months: 18}},
		{"2y", policy.Period{Years: 2}},
		{"10 Years", policy.Period{Years: 10}},
		{" indefinite ", policy.Period{Indefinite: true}},
		{"forever", policy.Period{Indefinite: true}},
	}
	for _, tc := range tests {
		got, err := policy.ParsePeriod(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParsePeriod(%q) = %+v, %v", tc.in, got, err)
		}
	}
	for _, bad := range []string{"", "d", "2", "2 y s", "1.5y", "-1d", "0y", "201y", "99999d", "2 decades", "1e3d"} {
		if _, err := policy.ParsePeriod(bad); err == nil {
			t.Errorf("ParsePeriod(%q) accepted", bad)
		}
	}
}

func TestDefaultScheduleCategories(t *testing.T) {
	t.Parallel()
	s := defaultSchedule(t)
	want := map[string]string{"uncategorized": "180d", "non-evidentiary": "90d", "traffic": "2y",
		"misdemeanor": "3y", "felony": "10y", "homicide": "indefinite"}
	got := map[string]string{}
	for _, c := range s.Categories() {
		got[c.Name] = c.Keep.String()
	}
	if len(got) != len(want) {
		t.Fatalf("categories %v", got)
	}
	for k, v := range want {
		if got[k] != v || !s.HasCategory(k) {
			t.Errorf("%s: %q, want %q", k, got[k], v)
		}
	}
	if s.HasCategory("nope") {
		t.Error("HasCategory(nope)")
	}
}
