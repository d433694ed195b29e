package release

import (
	"encoding/json"
	"math"
	"testing"
	"time"
)

func TestResumed(t *testing.T) {
	for h, want := range map[string]bool{
		"": false, "bytes=0-": false, "bytes=0-99": false, " bytes=0-1023": false,
		"bytes=100-": true, "bytes=1-1": true, "bytes=-500": true, "items=5-": false,
	} {
		if got := resumed(h); got != want {
			t.Errorf("resumed(%q) = %v, want %v", h, got, want)
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
