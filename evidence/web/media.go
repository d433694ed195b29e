package web

import (
	"encoding/json"
	"sort"
)

// mediaStatus is what the item page shows of the transcode job's
// per-output state and the recording's completeness, read from the item's
// metadata (outputs.<kind>, recording), where the job stores them.
type mediaStatus struct {
	// Outputs in page order (proxy, poster, thumbstrip, then any other).
	Outputs []outputStatus
	// Problem is set when any output is not ready, so the page lists them.
	Problem bool
	// Partial marks a recording that decodes shorter than it declares.
	Partial          bool
	DeclaredDuration float64
	DecodedDuration  float64
	// DurationDerived explains a duration the container did not declare
	// ("counted frames at the stream's rate" for raw NVR streams).
	DurationDerived string
	// ProxyMethod is how the ready proxy was made ("remux" or "encode";
	// empty for proxies made before this was recorded), and ProxyNote why
	// an original was re-encoded.
	ProxyMethod, ProxyNote string
}

type outputStatus struct {
	Kind, Label, Status, Error string
	Attempts                   int
}

var outputLabels = map[string]string{"proxy": "playable copy", "poster": "poster", "thumbstrip": "timeline thumbnails"}
var outputOrder = map[string]int{"proxy": 0, "poster": 1, "thumbstrip": 2}

// parseMediaStatus reads the metadata of an item; metadata it cannot read
// (older items, bad JSON) shows nothing rather than failing the page.
func parseMediaStatus(meta json.RawMessage) mediaStatus {
	var m struct {
		Outputs map[string]struct {
			Status     string `json:"status"`
			Error      string `json:"error"`
			Attempts   int    `json:"attempts"`
			Method     string `json:"method"`
			NotRemuxed string `json:"not_remuxed"`
		} `json:"outputs"`
		Probe struct {
			DurationSource string `json:"duration_source"`
		} `json:"probe"`
		Recording struct {
			Status           string  `json:"status"`
			DeclaredDuration float64 `json:"declared_duration"`
			DecodedDuration  float64 `json:"decoded_duration"`
		} `json:"recording"`
	}
	var s mediaStatus
	if len(meta) == 0 || json.Unmarshal(meta, &m) != nil {
		return s
	}
	for kind, o := range m.Outputs {
		label := outputLabels[kind]
		if label == "" {
			label = kind
		}
		s.Outputs = append(s.Outputs, outputStatus{Kind: kind, Label: label, Status: o.Status, Error: o.Error, Attempts: o.Attempts})
		if o.Status != "ready" {
			s.Problem = true
		} else if kind == "proxy" {
			s.ProxyMethod, s.ProxyNote = o.Method, o.NotRemuxed
		}
	}
	sort.Slice(s.Outputs, func(i, j int) bool {
		oi, iok := outputOrder[s.Outputs[i].Kind]
		oj, jok := outputOrder[s.Outputs[j].Kind]
		if iok != jok {
			return iok
		}
		if oi != oj {
			return oi < oj
		}
		return s.Outputs[i].Kind < s.Outputs[j].Kind
	})
	switch m.Probe.DurationSource {
	case "frame_count":
		s.DurationDerived = "counted frames at the stream's frame rate"
	case "stream_timestamps":
		s.DurationDerived = "from the stream's timestamps"
	case "unknown":
		s.DurationDerived = "unknown"
	}
	s.Partial = m.Recording.Status == "partial"
	s.DeclaredDuration, s.DecodedDuration = m.Recording.DeclaredDuration, m.Recording.DecodedDuration
	return s
}
