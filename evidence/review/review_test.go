package review

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opendems/opendems/storage"
	"github.com/opendems/opendems/storage/fs"
)

func TestNormalizeTags(t *testing.T) {
	long := strings.Repeat("a", 41)
	many := make([]string, MaxTags+1)
	for i := range many {
		many[i] = string(rune('a'+i%26)) + strings.Repeat("x", i/26+1)
	}
	cases := []struct {
		in      []string
		want    []string
		wantErr bool
	}{
		{in: nil, want: []string{}},
		{in: []string{"  ", ""}, want: []string{}},
		{in: []string{"Arrest", "arrest ", "DUI"}, want: []string{"arrest", "dui"}},
		{in: []string{"use of force", "k-9", "case:123", "a_b.c"}, want: []string{"a_b.c", "case:123", "k-9", "use of force"}},
		{in: []string{"Überprüfung"}, want: []string{"überprüfung"}},
		{in: []string{"<script>"}, wantErr: true},
		{in: []string{"-leading"}, wantErr: true},
		{in: []string{long}, wantErr: true},
		{in: []string{"a\nb"}, wantErr: true},
		{in: many, wantErr: true},
	}
	for _, c := range cases {
		got, err := NormalizeTags(c.in)
		if (err != nil) != c.wantErr {
			t.Errorf("NormalizeTags(%q) error %v, want error %v", c.in, err, c.wantErr)
			continue
		}
		if !c.wantErr && !slices.Equal(got, c.want) {
			t.Errorf("NormalizeTags(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// FuzzNormalizeTags: whatever comes in, the result is sorted, unique,
// lower-case and valid again (idempotent), or an error.
func FuzzNormalizeTags(f *testing.F) {
	for _, s := range []string{"arrest,DUI", "use of force", "<b>", "", " , ,x", "ÄÖÜ,äöü", strings.Repeat("t,", 40)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := NormalizeTags(strings.Split(s, ","))
		if err != nil {
			return
		}
		if !slices.IsSorted(got) || len(slices.Compact(slices.Clone(got))) != len(got) || len(got) > MaxTags {
			t.Fatalf("not sorted/unique/bounded: %q", got)
		}
		again, err := NormalizeTags(got)
		if err != nil || !slices.Equal(again, got) {
			t.Fatalf("not idempotent: %q -> %q (%v)", got, again, err)
		}
		for _, tag := range got {
			if tag != strings.ToLower(tag) || tag != strings.TrimSpace(tag) {
				t.Fatalf("tag %q not normalized", tag)
			}
		}
	})
}

func TestMarkerValidate(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	cases := []struct {
		name     string
		in       MarkerInput
		duration float64
		ok       bool
	}{
		{"start", MarkerInput{At: f(0)}, 10, true},
		{"end", MarkerInput{At: f(10)}, 10, true},
		{"rounding past end", MarkerInput{At: f(10.5)}, 10, true},
		{"unknown duration", MarkerInput{At: f(5000)}, 0, true},
		{"missing", MarkerInput{}, 10, false},
		{"negative", MarkerInput{At: f(-0.1)}, 10, false},
		{"NaN", MarkerInput{At: f(math.NaN())}, 10, false},
		{"Inf", MarkerInput{At: f(math.Inf(1))}, 0, false},
		{"beyond end", MarkerInput{At: f(12)}, 10, false},
		{"long note", MarkerInput{At: f(1), Note: strings.Repeat("é", MaxNote+1)}, 10, false},
		{"note at limit", MarkerInput{At: f(1), Note: strings.Repeat("é", MaxNote)}, 10, true},
		{"invalid utf8", MarkerInput{At: f(1), Note: "\xff"}, 10, false},
	}
	for _, c := range cases {
		if err := c.in.Validate(c.duration); (err == nil) != c.ok {
			t.Errorf("%s: err %v, want ok=%v", c.name, err, c.ok)
		}
	}
}

// TestObjectReaderServesRanges checks the ReadSeeker over storage range
// reads against http.ServeContent over the same bytes in memory: every
// Range answer (206, 416, multipart) must be identical.
func TestObjectReaderServesRanges(t *testing.T) {
	ctx := context.Background()
	st, err := fs.New(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 300_000)
	r := rand.New(rand.NewPCG(7, 9))
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	ref := storage.Ref{Namespace: storage.Derivatives, Digest: storage.Digest(sha256.Sum256(data))}
	if _, err := st.Put(ctx, ref, int64(len(data)), bytes.NewReader(data), storage.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	mod := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	serve := func(rs io.ReadSeeker, rng string) (int, string, []byte) {
		req := httptest.NewRequest("GET", "/x", nil)
		if rng != "" {
			req.Header.Set("Range", rng)
		}
		w := httptest.NewRecorder()
		http.ServeContent(w, req, "", mod, rs)
		return w.Code, w.Header().Get("Content-Range"), w.Body.Bytes()
	}
	for _, rng := range []string{"", "bytes=0-0", "bytes=0-99", "bytes=1000-", "bytes=-500", "bytes=299999-", "bytes=100-50",
		"bytes=300000-", "bytes=0-10,200-210", "bytes=5-5,5-5", "bytes=x", "bytes=250000-400000"} {
		or := NewObjectReader(ctx, st, ref, int64(len(data)))
		gotCode, gotCR, gotBody := serve(or, rng)
		or.Close()
		wantCode, wantCR, wantBody := serve(bytes.NewReader(data), rng)
		if gotCode != wantCode || gotCR != wantCR {
			t.Errorf("Range %q: %d %q, want %d %q", rng, gotCode, gotCR, wantCode, wantCR)
		}
		// Multipart answers differ only in the random boundary.
		if !strings.Contains(rng, ",") && !bytes.Equal(gotBody, wantBody) {
			t.Errorf("Range %q: body differs (%d vs %d bytes)", rng, len(gotBody), len(wantBody))
		}
	}
	// Seeking around and reading matches bytes.Reader.
	or := NewObjectReader(ctx, st, ref, int64(len(data)))
	defer or.Close()
	br := bytes.NewReader(data)
	for i := 0; i < 50; i++ {
		off := r.Int64N(int64(len(data)) + 10)
		whence := []int{io.SeekStart, io.SeekCurrent, io.SeekEnd}[i%3]
		arg := off
		switch whence {
		case io.SeekCurrent:
			arg = off - int64(len(data))/2
		case io.SeekEnd:
			arg = -off
		}
		p1, e1 := or.Seek(arg, whence)
		p2, e2 := br.Seek(arg, whence)
		if (e1 == nil) != (e2 == nil) || (e1 == nil && p1 != p2) {
			t.Fatalf("Seek(%d,%d): ours %d %v, bytes.Reader %d %v", arg, whence, p1, e1, p2, e2)
		}
		if e1 != nil {
			continue
		}
		b1 := make([]byte, r.IntN(5000)+1)
		b2 := make([]byte, len(b1))
		n1, _ := io.ReadFull(or, b1)
		n2, _ := io.ReadFull(br, b2)
		if n1 != n2 || !bytes.Equal(b1[:n1], b2[:n2]) {
			t.Fatalf("read after seek to %d: %d vs %d bytes", p1, n1, n2)
		}
	}
}
