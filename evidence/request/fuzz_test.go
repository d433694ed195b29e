package request

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

// FuzzStatusCode: whatever is typed, normalization gives a canonical code
// (idempotent, hashing alike) or nothing; a tracking number that passes
// the check has the documented shape.
func FuzzStatusCode(f *testing.F) {
	for _, s := range []string{"K7QD-3MZX-PA2R-9TWE", "k7qd 3mzx pa2r 9twe", "K7QD3MZXPA2R9TWE", "", "----", "K7QD-3MZX-PA2R-9TW1", "ÄÄÄÄ-3MZX-PA2R-9TWE", "PAR-2026-000123", "PAR-2026-12", "X'; --"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c := NormalizeStatusCode(s)
		if c != "" {
			if len(c) != 19 || NormalizeStatusCode(c) != c || string(HashStatusCode(c)) != string(HashStatusCode(s)) {
				t.Fatalf("%q → %q: not canonical", s, c)
			}
		}
		if ValidTrackingNumber(s) {
			parts := strings.Split(s, "-")
			if len(parts) != 3 || len(parts[1]) != 4 || len(parts[2]) < 6 {
				t.Fatalf("%q accepted as a tracking number", s)
			}
		}
	})
}

// FuzzIntake: any intake either validates or is refused with field errors
// of the invalid or too-large kind; never a panic.
func FuzzIntake(f *testing.F) {
	f.Add("Ann", "media", "ann@example.org", "footage", "web", "", "")
	f.Add("", "robot", "\x00", strings.Repeat("x", MaxDescriptionLen+1), "fax", "a\nb", "INC-1")
	f.Fuzz(func(t *testing.T, name, typ, contact, desc, channel, place, incident string) {
		in := Intake{RequesterName: name, RequesterType: RequesterType(typ), Contact: contact, Description: desc,
			Channel: Channel(channel), Place: place, Incident: incident}
		err := in.Validate(time.Now())
		var ie *InvalidError
		if err != nil && (!errors.As(err, &ie) || len(ie.Fields) == 0 || !(errors.Is(err, ErrInvalid) || errors.Is(err, ErrTooLarge))) {
			t.Fatalf("intake error %T %v", err, err)
		}
	})
}

// FuzzSpecExemptions: any document gets a verdict, and an accepted one
// cites only configured codes.
func FuzzSpecExemptions(f *testing.F) {
	f.Add(`{"regions":[{"reason":"b(7)(C)"}],"audio":[{"reason":"b(6)"}]}`)
	f.Add(`{"regions":[{"reason":"privacy"}]}`)
	f.Add(`{"full_frame_blur":[{"reason":""}]}`)
	f.Add(`[1,2]`)
	f.Add(`{"regions":"x"}`)
	s := &Store{settings: defaultSettings(f)}
	f.Fuzz(func(t *testing.T, doc string) {
		err := s.CheckSpecExemptions([]byte(doc))
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("kind of %v", err)
			}
			return
		}
		var sr specReasons
		if json.Unmarshal([]byte(doc), &sr) != nil {
			t.Fatalf("accepted a document that does not decode: %q", doc)
		}
		for _, r := range sr.Regions {
			if !s.settings.Exemptions.Known(r.Reason) {
				t.Fatalf("accepted region reason %q", r.Reason)
			}
		}
	})
}
