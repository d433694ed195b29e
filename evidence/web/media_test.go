package web

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/opendems/opendems/evidence"
	"github.com/opendems/opendems/evidence/review"
)

func TestParseMediaStatus(t *testing.T) {
	meta := json.RawMessage(`{"probe":{"duration":4},"outputs":{"thumbstrip":{"status":"failed","error":"sprite \"a.ts\": invalid options","attempts":1},
		"proxy":{"status":"ready","attempts":1},"poster":{"status":"ready","attempts":1}},
		"recording":{"status":"partial","declared_duration":4,"decoded_duration":2.04}}`)
	s := parseMediaStatus(meta)
	if len(s.Outputs) != 3 || s.Outputs[0].Kind != "proxy" || s.Outputs[2].Kind != "thumbstrip" || s.Outputs[2].Status != "failed" ||
		s.Outputs[2].Label != "timeline thumbnails" || !s.Problem {
		t.Fatalf("%+v", s)
	}
	if !s.Partial || s.DeclaredDuration != 4 || s.DecodedDuration != 2.04 {
		t.Fatalf("%+v", s)
	}
	for _, m := range []string{``, `null`, `{"outputs":[1]}`, `{"outputs":{"proxy":{"status":"ready"}}}`} {
		if s := parseMediaStatus(json.RawMessage(m)); s.Problem || s.Partial {
			t.Errorf("%q: %+v", m, s)
		}
	}
}

// TestItemPageShowsOutputsAndPartial renders the item page of a partial
// recording whose sprite failed: the page names the failed output and why,
// and says the recording is partial.
func TestItemPageShowsOutputsAndPartial(t *testing.T) {
	u, err := New(Deps{})
	if err != nil {
		t.Fatal(err)
	}
	it := &evidence.Item{ID: uuid.New(), Title: "ch01", Metadata: json.RawMessage(`{"probe":{"duration":4,"duration_source":"frame_count"},
		"outputs":{"proxy":{"status":"ready","attempts":1},"thumbstrip":{"status":"failed","error":"sprite \"ch01.h264\": no decodable video frame","attempts":1}},
		"recording":{"status":"partial","declared_duration":4,"decoded_duration":2}}`)}
	d := itemData{ReviewData: review.ReviewData{Item: it, Job: review.JobStatus{Status: "ready"}, Derivatives: map[string]review.Derivative{}},
		Probe: summarizeProbe(it.Metadata)}
	var buf bytes.Buffer
	v := &view{Title: "ch01", Data: d, Request: httptest.NewRequest("GET", "/evidence/"+it.ID.String(), nil), Can: map[string]bool{}}
	if err := u.pages["item"].ExecuteTemplate(&buf, "layout.html", v); err != nil {
		t.Fatal(err)
	}
	page := buf.String()
	for _, want := range []string{`class="badge partial"`, `id="partial-recording"`, `data-output="thumbstrip"`,
		`timeline thumbnails failed`, `sprite &#34;ch01.h264&#34;: no decodable video frame`, `counted frames at the stream&#39;s frame rate`} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	if strings.Contains(page, `id="proxy-method"`) {
		t.Error("a proxy without a recorded method names one")
	}
	// A complete recording with every output ready shows neither.
	d.Item = &evidence.Item{ID: it.ID, Metadata: json.RawMessage(`{"outputs":{"proxy":{"status":"ready","method":"remux"}}}`)}
	v.Data = d
	buf.Reset()
	if err := u.pages["item"].ExecuteTemplate(&buf, "layout.html", v); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "proxy: remuxed from the original (no re-encode)") {
		t.Error("remuxed proxy not said so")
	}
	d.Item = &evidence.Item{ID: it.ID, Metadata: json.RawMessage(`{"outputs":{"proxy":{"status":"ready","method":"encode","not_remuxed":"video codec hevc is not H.264"}}}`)}
	v.Data = d
	buf.Reset()
	if err := u.pages["item"].ExecuteTemplate(&buf, "layout.html", v); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "proxy: re-encoded (video codec hevc is not H.264)") || strings.Contains(buf.String(), "remuxed from") {
		t.Error("re-encoded proxy not said so")
	}

	d.Item = &evidence.Item{ID: it.ID, Metadata: json.RawMessage(`{"outputs":{"proxy":{"status":"ready"}},"recording":{"status":"complete"}}`)}
	v.Data = d
	buf.Reset()
	if err := u.pages["item"].ExecuteTemplate(&buf, "layout.html", v); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(buf.String(), "partial-recording") || strings.Contains(buf.String(), `id="outputs"`) {
		t.Error("complete item shows a problem")
	}
}
