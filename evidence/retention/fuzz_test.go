package retention

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/opendems/opendems/evidence"
)

// FuzzParseBefore: ?before= either parses to a time that formats back to
// an accepted value, or is refused; it never panics.
func FuzzParseBefore(f *testing.F) {
	for _, s := range []string{"", "2026-01-02", "2026-01-02T15:04:05Z", "2026-01-02T15:04:05+02:00", "tomorrow", "2026-13-40", "9999-12-31T23:59:59Z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := parseBefore(s)
		if err != nil {
			if !got.IsZero() {
				t.Fatalf("error with a time: %q → %v", s, got)
			}
			return
		}
		if s == "" {
			if !got.IsZero() {
				t.Fatalf("empty → %v", got)
			}
			return
		}
		again, err := parseBefore(got.Format(time.RFC3339Nano))
		if err != nil || !again.Equal(got) {
			t.Fatalf("%q → %v does not round-trip: %v %v", s, got, again, err)
		}
	})
}

// FuzzCleanNames: accepted names are lower-case slugs without duplicates
// and in first-seen order; refusals are evidence.ErrInvalid.
func FuzzCleanNames(f *testing.F) {
	for _, s := range []string{"felony", "felony,traffic", "felony, felony", "Felony", "", "use-of-force,complaint", "a.b_c-d", " x ", "é"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		in := strings.Split(s, ",")
		out, err := cleanNames("category", in)
		if err != nil {
			if !errors.Is(err, evidence.ErrInvalid) {
				t.Fatalf("%q: %v is not evidence.ErrInvalid", s, err)
			}
			return
		}
		seen := map[string]bool{}
		for _, n := range out {
			if !nameRE.MatchString(n) || seen[n] {
				t.Fatalf("%q → %q: bad or duplicate %q", s, out, n)
			}
			seen[n] = true
		}
		for _, n := range in {
			if !seen[strings.TrimSpace(n)] {
				t.Fatalf("%q → %q lost %q", s, out, n)
			}
		}
	})
}
