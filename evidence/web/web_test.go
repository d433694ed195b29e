package web

import (
	"net/url"
	"testing"
	"time"
)

func TestSafeNext(t *testing.T) {
	cases := map[string]string{
		"":                      "/",
		"/evidence?q=x":         "/evidence?q=x",
		"/evidence/1#t":         "/evidence/1#t",
		"//evil.example/":       "/",
		"/\\evil.example":       "/",
		"https://evil.example/": "/",
		"evidence":              "/",
		"javascript:alert(1)":   "/",
		"/%2F%2Fevil.example":   "/%2F%2Fevil.example", // a path on this site
	}
	for in, want := range cases {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSortAndPageLinks(t *testing.T) {
	q := url.Values{"q": {"park"}, "after": {"50"}, "sort": {"size"}, "order": {"desc"}}
	cases := []struct {
		col, cur string
		desc     bool
		want     string
	}{
		{"size", "size", true, "/evidence?order=asc&q=park&sort=size"},
		{"size", "size", false, "/evidence?order=desc&q=park&sort=size"},
		{"officer_id", "size", true, "/evidence?order=desc&q=park&sort=officer_id"},
	}
	for _, c := range cases {
		if got := sortLink(q, c.col, c.cur, c.desc); got != c.want {
			t.Errorf("sortLink(%s) = %s, want %s", c.col, got, c.want)
		}
	}
	if got := pageLink(q, "75"); got != "/evidence?after=75&order=desc&q=park&sort=size" {
		t.Errorf("pageLink = %s", got)
	}
	if got := pageLink(q, "0"); got != "/evidence?order=desc&q=park&sort=size" {
		t.Errorf("pageLink(0) = %s", got)
	}
	if q.Get("after") != "50" {
		t.Error("links modified the request's query")
	}
}

func TestFormatting(t *testing.T) {
	for in, want := range map[float64]string{0: "—", 0.4: "0:00", 59.6: "1:00", 61: "1:01", 3661: "1:01:01"} {
		if got := fmtDuration(in); got != want {
			t.Errorf("fmtDuration(%v) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1536: "1.5 KiB", 5 << 20: "5.0 MiB", 3 << 30: "3.0 GiB"} {
		if got := fmtSize(in); got != want {
			t.Errorf("fmtSize(%d) = %q, want %q", in, got, want)
		}
	}
	if got := summarizeProbe([]byte(`{"probe":{"duration":8,"device":{"make":"[0][0][0][0]","model":"X1"},"streams":[{"kind":"video","codec":"h264","width":320,"height":240,"frame_rate":14.999},{"kind":"audio","codec":"aac","sample_rate":48000,"channels":2}],"location":{"latitude":-33.5,"longitude":151.25}}}`)); got.Device != "X1" ||
		got.Codec != "h264" || got.FrameRate != 15 || got.Audio != "aac 48000 Hz, 2 ch" || got.Location != "33.50000° S, 151.25000° E" {
		t.Errorf("summarizeProbe: %+v", got)
	}
	if got := summarizeProbe([]byte(`not json`)); got != (probeSummary{}) {
		t.Errorf("summarizeProbe(garbage) = %+v", got)
	}
}

func TestTemplatesParse(t *testing.T) {
	u, err := New(Deps{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"login", "dashboard", "search", "item", "cases", "case", "admin_users", "admin_units", "admin_docks", "admin_retention", "admin_holds", "notfound", "mfa"} {
		if u.pages[p] == nil {
			t.Errorf("page %s missing", p)
		}
	}
}

func TestFmtGrace(t *testing.T) {
	for in, want := range map[time.Duration]string{0: "none", -time.Hour: "none", 24 * time.Hour: "1 day",
		7 * 24 * time.Hour: "7 days", 36 * time.Hour: "36h0m0s"} {
		if got := fmtGrace(in); got != want {
			t.Errorf("fmtGrace(%v) = %q, want %q", in, got, want)
		}
	}
}
