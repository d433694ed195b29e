package release

import (
	"encoding/json"
	"math"
	"testing"
	"time"
)

func TestServedOf(t *testing.T) {
	for _, c := range []struct {
		status       int
		contentRange string
		written      int64
		want         served
	}{
		{200, "", 1000, served{0, 1000, false}},
		{200, "", 10, served{0, 10, false}}, // the client went away
		{206, "bytes 100-199/1000", 100, served{100, 100, false}},
		{206, "bytes 100-199/1000", 40, served{100, 40, false}},
		{206, "bytes 0-0/1000", 1, served{0, 1, false}},
		{206, "bytes 100-199/1000", 500, served{100, 100, false}}, // never more than the range
		{206, "", 100, served{}},                                  // multipart: not served here
		{206, "bytes */1000", 0, served{}},
		{416, "bytes */1000", 13, served{}},
		{304, "", 0, served{}},
		{200, "", -1, served{}},
	} {
		if got := servedOf(c.status, c.contentRange, c.written); got != c.want {
			t.Errorf("servedOf(%d, %q, %d) = %+v, want %+v", c.status, c.contentRange, c.written, got, c.want)
		}
	}
}

func TestShareStatus(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	two := 2
	revoked := now.Add(-time.Hour)
	cases := []struct {
		sh   Share
		want ShareStatus
	}{
		{Share{ExpiresAt: now.Add(time.Hour)}, ShareActive},
		{Share{ExpiresAt: now}, ShareExpired},
		{Share{ExpiresAt: now.Add(time.Hour), RevokedAt: &revoked}, ShareRevoked},
		{Share{ExpiresAt: now.Add(-time.Hour), RevokedAt: &revoked}, ShareRevoked},
		{Share{ExpiresAt: now.Add(time.Hour), MaxDownloads: &two, Downloads: 1}, ShareActive},
		{Share{ExpiresAt: now.Add(time.Hour), MaxDownloads: &two, Downloads: 2}, ShareExhausted},
	}
	for i, c := range cases {
		if got := c.sh.status(now); got != c.want {
			t.Errorf("case %d: %s, want %s", i, got, c.want)
		}
	}
}

func TestDecisionInputValidate(t *testing.T) {
	ok := []DecisionInput{{}, {Comment: "fine"}, {Comments: []Comment{{Region: "face-1", Text: "ok"}, {Start: 1, End: 2, Text: "x"}}}}
	for i, in := range ok {
		if err := in.validate(false); err != nil {
			t.Errorf("ok %d: %v", i, err)
		}
	}
	bad := []struct {
		in     DecisionInput
		reject bool
	}{
		{DecisionInput{}, true},
		{DecisionInput{Comments: []Comment{{Text: ""}}}, false},
		{DecisionInput{Comments: []Comment{{Start: 3, End: 2, Text: "x"}}}, false},
		{DecisionInput{Comments: []Comment{{Start: -1, Text: "x"}}}, false},
		{DecisionInput{Comment: "a\x00b"}, false},
		{DecisionInput{Comment: string(make([]byte, 5000))}, false},
	}
	for i, c := range bad {
		if err := c.in.validate(c.reject); err == nil {
			t.Errorf("bad %d accepted: %+v", i, c.in)
		}
	}
}

func FuzzDecisionInput(f *testing.F) {
	f.Add("looks fine", "face-1", 1.5, 3.0, "blur misses the chin")
	f.Add("", "", 0.0, 0.0, "")
	f.Add("\xff", "r\n", -1.0, 2.0, "t")
	f.Fuzz(func(t *testing.T, comment, region string, start, end float64, text string) {
		in := DecisionInput{Comment: comment, Comments: []Comment{{Region: region, Start: start, End: end, Text: text}}}
		if err := in.validate(true); err == nil {
			if text == "" || start < 0 || end < 0 || (end != 0 && end < start) || math.IsNaN(start+end) || math.IsInf(start+end, 0) {
				t.Fatalf("accepted %+v", in)
			}
			if _, err := json.Marshal(in.Comments); err != nil {
				t.Fatalf("accepted comments that do not marshal: %v", err)
			}
		}
	})
}
