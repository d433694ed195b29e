package api

import (
	"errors"
	"net/url"
	"testing"

	"github.com/opendems/opendems/evidence"
)

func TestParseFilter(t *testing.T) {
	cases := []struct {
		query string
		field string // "" = valid
	}{
		{"", ""},
		{"officer_id=N1&device_id=D&unit=north&category=felony&tag=x&q=main+st&sort=size&order=desc&limit=20&after=40", ""},
		{"from=2026-01-01&to=2026-02-01T00:00:00Z&flagged=true&case=3f2b6c1e-0d4a-4b8e-9f00-000000000001", ""},
		{"limit=0", "limit"},
		{"limit=501", "limit"},
		{"limit=abc", "limit"},
		{"order=sideways", "order"},
		{"flagged=maybe", "flagged"},
		{"case=not-a-uuid", "case"},
		{"from=yesterday", "from"},
		{"to=2026-13-45", "to"},
	}
	for _, tc := range cases {
		v, _ := url.ParseQuery(tc.query)
		_, err := ParseFilter(v.Get)
		var fe *evidence.FilterError
		switch {
		case tc.field == "" && err != nil:
			t.Errorf("%q: unexpected error %v", tc.query, err)
		case tc.field != "" && (!errors.As(err, &fe) || fe.Field != tc.field):
			t.Errorf("%q: want an error naming %s, got %v", tc.query, tc.field, err)
		}
	}
}

// FuzzParseFilter: any query string is parsed or refused with a
// FilterError naming the parameter; it never panics.
func FuzzParseFilter(f *testing.F) {
	f.Add("officer_id=N1&limit=20&order=asc")
	f.Add("from=2026-01-01&to=2026-02-01T00:00:00Z&flagged=true")
	f.Add("limit=-1&case=x")
	f.Fuzz(func(t *testing.T, q string) {
		v, err := url.ParseQuery(q)
		if err != nil {
			return
		}
		fl, err := ParseFilter(v.Get)
		if err != nil {
			var fe *evidence.FilterError
			if !errors.As(err, &fe) {
				t.Fatalf("error is not a FilterError: %v", err)
			}
			return
		}
		if fl.Limit < 0 || fl.Limit > 500 {
			t.Fatalf("limit %d accepted", fl.Limit)
		}
	})
}
