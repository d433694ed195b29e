package web

import (
	"encoding/json"
	"fmt"
	"html/template"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/opendems/opendems/evidence/custody"
	"github.com/opendems/opendems/evidence/review"
)

// funcs are the template helpers. They format; they never decide access.
var funcs = template.FuncMap{
	"fmtTime":     fmtTime,
	"fmtTimePtr":  fmtTimePtr,
	"fmtDuration": fmtDuration,
	"fmtGrace":    fmtGrace,
	"fmtShort":    func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04") },
	"fmtShortPtr": func(t *time.Time) string {
		if t == nil {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04")
	},
	"fmtSize":   fmtSize,
	"short":     func(s string) string { return shortID(s) },
	"join":      strings.Join,
	"percent":   func(f float64) string { return strconv.Itoa(int(f + 0.5)) },
	"sortLink":  sortLink,
	"pageLink":  pageLink,
	"eventText": eventText,
	"hashShort": func(h interface{ String() string }) string { return h.String()[:12] + "…" },
	"json": func(v any) (template.JS, error) {
		b, err := json.Marshal(v)
		return template.JS(b), err
	},
	"jsonStr": func(v any) (string, error) {
		b, err := json.Marshal(v)
		return string(b), err
	},
	"add": func(a, b int) int { return a + b },
	// msSeconds shows a clip point (milliseconds) in seconds.
	"msSeconds": func(ms int64) string { return strconv.FormatFloat(float64(ms)/1000, 'f', 3, 64) },
	// timelineText shows a request timeline event's details briefly.
	"timelineText": timelineText,
	// trimNoProxy drops the stored "no playable proxy: " prefix where the
	// page already says it.
	"trimNoProxy": func(s string) string { return strings.TrimPrefix(s, "no playable proxy: ") },
	// derived reports whether the item has a derivative of a kind (a
	// missing map entry is a zero struct, which templates count as true).
	"derived": func(m map[string]review.Derivative, kind string) bool { _, ok := m[kind]; return ok },
	// media is the per-output transcode state and the recording's
	// completeness stored in an item's metadata.
	"media": parseMediaStatus,
	"has": func(list []string, s string) bool {
		for _, x := range list {
			if x == s {
				return true
			}
		}
		return false
	},
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

func fmtTimePtr(t *time.Time) string {
	if t == nil {
		return "—"
	}
	return fmtTime(*t)
}

// fmtDuration writes seconds as h:mm:ss (or m:ss).
func fmtDuration(sec float64) string {
	if sec <= 0 {
		return "—"
	}
	s := int(sec + 0.5)
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}

func fmtSize(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

func shortID(s string) string {
	if len(s) > 8 {
		return s[:8]
	}
	return s
}

func itoa(n int) string { return strconv.Itoa(n) }

func urlq(s string) string { return url.QueryEscape(s) }

func formatLatLon(lat, lon float64) string {
	ns, ew := "N", "E"
	if lat < 0 {
		ns, lat = "S", -lat
	}
	if lon < 0 {
		ew, lon = "W", -lon
	}
	return fmt.Sprintf("%.5f° %s, %.5f° %s", lat, ns, lon, ew)
}

// sortLink is the search URL sorted by col: the current column toggles
// its direction, another column starts descending (newest, largest
// first), and the page starts over.
func sortLink(q url.Values, col, cur string, desc bool) string {
	n := url.Values{}
	for k, v := range q {
		n[k] = v
	}
	n.Del("after")
	n.Set("sort", col)
	order := "desc"
	if col == cur && desc {
		order = "asc"
	}
	n.Set("order", order)
	return "/evidence?" + n.Encode()
}

// pageLink is the search URL at another offset.
func pageLink(q url.Values, after string) string {
	n := url.Values{}
	for k, v := range q {
		n[k] = v
	}
	if after == "" || after == "0" {
		n.Del("after")
	} else {
		n.Set("after", after)
	}
	return "/evidence?" + n.Encode()
}

// eventText renders a custody event's details as "key: value" pairs in a
// stable order, for the timeline.
func eventText(e custody.Event) string {
	var m map[string]any
	if json.Unmarshal(e.Details, &m) != nil || len(m) == 0 {
		return ""
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		v := m[k]
		var s string
		switch x := v.(type) {
		case string:
			s = x
		case float64:
			s = strconv.FormatFloat(x, 'f', -1, 64)
		default:
			b, _ := json.Marshal(x)
			s = string(b)
		}
		if len(s) > 80 {
			s = s[:77] + "…"
		}
		parts = append(parts, k+": "+s)
	}
	return strings.Join(parts, " · ")
}

// timelineText renders the details of a request's timeline event as
// "key: value" pairs in a stable order.
func timelineText(d map[string]any) string {
	keys := make([]string, 0, len(d))
	for k := range d {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		v := d[k]
		if v == nil || v == "" {
			continue
		}
		parts = append(parts, fmt.Sprintf("%s: %v", strings.ReplaceAll(k, "_", " "), v))
	}
	return strings.Join(parts, "; ")
}
