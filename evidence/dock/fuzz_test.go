package dock

import (
	"encoding/json"
	"testing"
	"time"
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

// FuzzParseNVRFileName: never panics; a span it returns runs forwards and
// a time is a real calendar time.
func FuzzParseNVRFileName(f *testing.F) {
	for _, s := range []string{"ch01_20240501123456_20240501124500.mp4", "2024-05-01.12.00.00-2024-05-01.13.00.00[M][0@0][0].dav",
		"Camera 3_20240501_080000(2).h264", "D4_20240501080000_001.265", "ch01_20240231120000.mp4", "", "(((", "part"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, ok := ParseNVRFileName(s, time.UTC)
		if !ok && (n.Camera != "" || n.Start != nil) {
			t.Fatalf("not ok but %+v", n)
		}
		if n.End != nil && (n.Start == nil || n.End.Before(*n.Start)) {
			t.Fatalf("span %v..%v", n.Start, n.End)
		}
		if n.Part < 0 {
			t.Fatalf("part %d", n.Part)
		}
	})
}

// FuzzParseChecksumList: never panics; every entry has a known algorithm
// and a hex value of that algorithm's length.
func FuzzParseChecksumList(f *testing.F) {
	f.Add([]byte("d41d8cd98f00b204e9800998ecf8427e  a.mp4\n"))
	f.Add([]byte("MD5 (a b.ts) = 0cc175b9c0f1b6a831c399e269772661\r\n"))
	f.Add([]byte("SHA256 (x) = e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"))
	f.Add([]byte(" (  ) = \n*"))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseChecksumList(b)
		if err != nil {
			return
		}
		lengths := map[string]int{"md5": 32, "sha1": 40, "sha256": 64}
		for name, c := range m {
			if name == "" || len(c.Value) != lengths[c.Algorithm] {
				t.Fatalf("%q: %+v", name, c)
			}
		}
	})
}
