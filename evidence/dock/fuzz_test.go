package dock

import (
	"encoding/json"
	"testing"
)

// FuzzParseSidecar: never panics; what it accepts re-encodes, and unknown
// keys land in Extra as a JSON object.
func FuzzParseSidecar(f *testing.F) {
	f.Add([]byte(`{"officer_id":"b42","source":"bwc","recorded_at":"2023-01-01T00:00:00Z","gps":[{"t":"2023-01-01T00:00:00Z","lat":1,"lon":2}],"firmware":"1.2"}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`{"gps":null,"x":{"y":[1,2]}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ParseSidecar(b)
		if err != nil {
			return
		}
		if len(s.Extra) > 0 {
			var m map[string]json.RawMessage
			if err := json.Unmarshal(s.Extra, &m); err != nil || m == nil {
				t.Fatalf("extra %q is not an object", s.Extra)
			}
		}
		if s.Source != "" && s.SourceKind == "" {
			t.Fatal("source alias not applied")
		}
	})
}

// FuzzParseRate: never panics; accepted rates are 0 or at least 1 KiB/s.
func FuzzParseRate(f *testing.F) {
	for _, s := range []string{"", "0", "20MiB/s", "8Mbit/s", "1.5MB", "fast", "1e309GB"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRate(s)
		if err == nil && r != 0 && r < 1024 {
			t.Fatalf("ParseRate(%q) = %d", s, r)
		}
	})
}
