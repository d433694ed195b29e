package wire

import (
	"errors"
	"strings"
	"testing"
)

var goodSHA = strings.Repeat("0a", 32)

func TestParseCreateRequest(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		wantErr string // substring naming the field; "" = ok
	}{
		{"minimal", `{"sha256":"` + goodSHA + `","size":1}`, ""},
		{"upper-case sha", `{"sha256":"` + strings.ToUpper(goodSHA) + `","size":1}`, ""},
		{"full", `{"sha256":"` + goodSHA + `","size":10,"filename":"a.mp4","content_type":"video/mp4","metadata":{"officer_id":"b1","device_id":"d","source_kind":"cctv","camera_name":"lobby","location":"HQ","recorded_at":"2026-01-02T03:04:05Z","gps":[{"t":"2026-01-02T03:04:05Z","lat":1,"lon":2}],"extra":{"k":"v"}}}`, ""},
		{"no sha", `{"size":1}`, "sha256"},
		{"short sha", `{"sha256":"abc","size":1}`, "sha256"},
		{"zero size", `{"sha256":"` + goodSHA + `","size":0}`, "size"},
		{"string size", `{"sha256":"` + goodSHA + `","size":"1"}`, "size"},
		{"unknown top field", `{"sha256":"` + goodSHA + `","size":1,"x":1}`, "unknown field"},
		{"unknown metadata field", `{"sha256":"` + goodSHA + `","size":1,"metadata":{"officer":"x"}}`, "unknown field"},
		{"bad source", `{"sha256":"` + goodSHA + `","size":1,"metadata":{"source_kind":"x"}}`, "metadata.source_kind"},
		{"lat out of range", `{"sha256":"` + goodSHA + `","size":1,"metadata":{"gps":[{"t":"2026-01-02T03:04:05Z","lat":91,"lon":0}]}}`, "metadata.gps[0].lat"},
		{"ancient time", `{"sha256":"` + goodSHA + `","size":1,"metadata":{"recorded_at":"1900-01-01T00:00:00Z"}}`, "metadata.recorded_at"},
		{"control char", `{"sha256":"` + goodSHA + `","size":1,"metadata":{"officer_id":"a\u0000b"}}`, "metadata.officer_id"},
		{"long field", `{"sha256":"` + goodSHA + `","size":1,"metadata":{"location":"` + strings.Repeat("x", MaxTextField+1) + `"}}`, "metadata.location"},
		{"extra not object", `{"sha256":"` + goodSHA + `","size":1,"metadata":{"extra":[1]}}`, "metadata.extra"},
		{"dir in filename", `{"sha256":"` + goodSHA + `","size":1,"filename":"a/b.mp4"}`, "filename"},
		{"trailing", `{"sha256":"` + goodSHA + `","size":1}x`, "after the JSON"},
		{"array", `[]`, "session request"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, err := ParseCreateRequest([]byte(tc.body))
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				if req.SHA256 != goodSHA {
					t.Errorf("sha not normalized: %q", req.SHA256)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want one naming %q", err, tc.wantErr)
			}
		})
	}
}

func TestParseAndCheckChunk(t *testing.T) {
	const size, chunk = 25, 10
	tests := []struct {
		name    string
		off     string
		cl      int64
		sha     string
		durable int64
		code    string
	}{
		{"first", "0", 10, goodSHA, 0, ""},
		{"last short", "20", 5, goodSHA, 20, ""},
		{"no offset", "", 10, goodSHA, 0, CodeBadRequest},
		{"negative offset", "-1", 10, goodSHA, 0, CodeBadRequest},
		{"hex offset", "0x10", 10, goodSHA, 0, CodeBadRequest},
		{"no length", "0", -1, goodSHA, 0, CodeLengthRequired},
		{"empty", "0", 0, goodSHA, 0, CodeChunkLength},
		{"bad sha", "0", 10, "zz", 0, CodeBadRequest},
		{"behind", "0", 10, goodSHA, 10, CodeOffsetMismatch},
		{"ahead", "20", 5, goodSHA, 10, CodeOffsetMismatch},
		{"too long", "0", 11, goodSHA, 0, CodeChunkTooLarge},
		{"short", "0", 9, goodSHA, 0, CodeChunkLength},
		{"past end", "20", 6, goodSHA, 20, CodeBeyondSize},
		{"at end", "25", 1, goodSHA, 25, CodeBeyondSize},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ParseChunk(tc.off, tc.cl, tc.sha)
			if err == nil {
				err = CheckChunk(c, size, chunk, tc.durable)
			}
			var we *Error
			switch {
			case tc.code == "" && err != nil:
				t.Fatalf("unexpected %v", err)
			case tc.code != "" && (!errors.As(err, &we) || we.Code != tc.code):
				t.Fatalf("error %v, want code %s", err, tc.code)
			}
			if tc.code == CodeOffsetMismatch && (we.Offset == nil || *we.Offset != tc.durable) {
				t.Errorf("offset_mismatch carries %v, want %d", we.Offset, tc.durable)
			}
		})
	}
}

func TestStatusOfEveryCode(t *testing.T) {
	for code := range statusOf {
		if s := Status(code); s < 400 || s > 599 {
			t.Errorf("%s → %d", code, s)
		}
	}
	if Status("nonsense") != 500 {
		t.Error("unknown code is not 500")
	}
}

// FuzzParseCreateRequest: never panics, and whatever it accepts is valid
// and survives a round trip.
func FuzzParseCreateRequest(f *testing.F) {
	f.Add([]byte(`{"sha256":"` + goodSHA + `","size":1}`))
	f.Add([]byte(`{"sha256":"` + goodSHA + `","size":10,"filename":"a.mp4","metadata":{"officer_id":"b1","source_kind":"cctv","recorded_at":"2026-01-02T03:04:05Z","gps":[{"t":"2026-01-02T03:04:05Z","lat":1,"lon":2}],"extra":{"k":"v"}}}`))
	f.Add([]byte(`{"sha256":"zz","size":-1}`))
	f.Add([]byte(`{"metadata":{"extra":null}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := ParseCreateRequest(b)
		if err != nil {
			return
		}
		if err := req.Validate(); err != nil {
			t.Fatalf("accepted an invalid request: %v", err)
		}
		if _, err := ParseSHA256(req.SHA256); err != nil || req.SHA256 != strings.ToLower(req.SHA256) {
			t.Fatalf("accepted sha %q", req.SHA256)
		}
	})
}

// FuzzChunkHeaders: never panics; an accepted chunk starts at the durable
// offset and has exactly the expected length.
func FuzzChunkHeaders(f *testing.F) {
	f.Add("0", int64(10), goodSHA, int64(25), int64(10), int64(0))
	f.Add("20", int64(5), goodSHA, int64(25), int64(10), int64(20))
	f.Add("9223372036854775807", int64(1), goodSHA, int64(25), int64(10), int64(0))
	f.Add("-0", int64(-1), "", int64(1), int64(1), int64(0))
	f.Fuzz(func(t *testing.T, off string, cl int64, sha string, size, chunk, durable int64) {
		if size <= 0 || chunk <= 0 || durable < 0 || durable > size {
			return
		}
		c, err := ParseChunk(off, cl, sha)
		if err != nil {
			return
		}
		if err := CheckChunk(c, size, chunk, durable); err != nil {
			return
		}
		if c.Offset != durable || c.Length != ExpectedChunkLength(size, chunk, durable) || c.Length <= 0 || c.Offset+c.Length > size {
			t.Fatalf("accepted chunk %+v for size %d chunk %d durable %d", c, size, chunk, durable)
		}
	})
}

func TestPrefersAsync(t *testing.T) {
	for _, c := range []struct {
		header string
		want   bool
	}{
		{"", false},
		{"respond-async", true},
		{"Respond-Async", true},
		{"return=minimal, respond-async", true},
		{"respond-async; wait=5", true},
		{"wait=5,respond-async ", true},
		{"respond-asynchronously", false},
		{"return=representation", false},
		{"wait=respond-async", false},
	} {
		if got := PrefersAsync(c.header); got != c.want {
			t.Errorf("PrefersAsync(%q) = %v, want %v", c.header, got, c.want)
		}
	}
}
