package spec

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// ReportVersion versions the report format (JSON and CSV columns).
const ReportVersion = 1

// Report records what a render did: every mask and audio range with its
// times, method, reason and origin, plus the hashes that tie the output to
// the original. It is written beside each render as OUT.redaction.json and
// OUT.redaction.csv, and is what a release reviewer signs off.
type Report struct {
	Version int `json:"version"`
	// Source and Output identify the files by SHA-256.
	Source FileDigest `json:"source"`
	Output FileDigest `json:"output"`
	// ClipSource is the spec's clip.source (the evidence item ID).
	ClipSource string `json:"clip_source"`
	// In and Out are the rendered source range in seconds; output time 0 is
	// source time In.
	In  float64 `json:"in"`
	Out float64 `json:"out"`
	// Frames and Samples count what was encoded (video frames, audio
	// samples per channel).
	Frames  int   `json:"frames"`
	Samples int64 `json:"samples"`
	// RenderedAt is when the render finished (UTC).
	RenderedAt time.Time `json:"rendered_at"`
	// Items lists every redaction, in spec order.
	Items []ReportItem `json:"items"`
	// Spec is the normalized spec that was rendered.
	Spec *Spec `json:"spec"`
}

// FileDigest names a file by path, size and SHA-256.
type FileDigest struct {
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// Item kinds.
const (
	KindRegion    = "region"
	KindAudio     = "audio"
	KindFullFrame = "full_frame"
	KindSlate     = "slate"
)

// ReportItem is one redaction as rendered.
type ReportItem struct {
	ID   string `json:"id"`
	Kind string `json:"kind"`
	// Start and End are source seconds; OutputStart and OutputEnd the same
	// instants on the output timeline (clipped to the rendered range).
	Start       float64 `json:"start"`
	End         float64 `json:"end"`
	OutputStart float64 `json:"output_start"`
	OutputEnd   float64 `json:"output_end"`
	// Method describes the effect, e.g. "blur strength 40 (ellipse)".
	Method     string  `json:"method"`
	Reason     string  `json:"reason"`
	Origin     Origin  `json:"origin"`
	Confidence float64 `json:"confidence,omitempty"`
	// Keyframes is the number of track keyframes (regions).
	Keyframes int `json:"keyframes,omitempty"`
	// Frames is how many video frames the effect was applied to; Samples
	// how many audio samples (per channel).
	Frames  int   `json:"frames"`
	Samples int64 `json:"samples,omitempty"`
}

// CSVHeader is the first row of the CSV report.
var csvHeader = []string{
	"id", "kind", "start", "end", "output_start", "output_end", "method", "reason",
	"origin", "confidence", "keyframes", "frames", "samples", "source_sha256", "output_sha256",
}

// MarshalCSV renders the report as CSV: one row per item, each carrying
// the source and output SHA-256 so a row copied into a log still says
// which files it is about.
func (r *Report) MarshalCSV() ([]byte, error) {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	_ = w.Write(csvHeader)
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', 3, 64) }
	for _, it := range r.Items {
		conf := ""
		if it.Confidence > 0 {
			conf = strconv.FormatFloat(it.Confidence, 'f', 3, 64)
		}
		_ = w.Write([]string{
			it.ID, it.Kind, f(it.Start), f(it.End), f(it.OutputStart), f(it.OutputEnd), it.Method, it.Reason,
			string(it.Origin), conf, strconv.Itoa(it.Keyframes), strconv.Itoa(it.Frames),
			strconv.FormatInt(it.Samples, 10), r.Source.SHA256, r.Output.SHA256,
		})
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return nil, fmt.Errorf("redact: encoding CSV report: %w", err)
	}
	return b.Bytes(), nil
}

// ReportPaths returns where the report for output path out is written.
func ReportPaths(out string) (jsonPath, csvPath string) {
	return out + ".redaction.json", out + ".redaction.csv"
}

// WriteFiles writes OUT.redaction.json and OUT.redaction.csv for the
// output path out, each through a temporary file renamed into place, so a
// crash never leaves a half-written report beside a finished render.
func (r *Report) WriteFiles(out string) error {
	js, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("redact: encoding JSON report: %w", err)
	}
	cs, err := r.MarshalCSV()
	if err != nil {
		return err
	}
	jp, cp := ReportPaths(out)
	if err := writeFileAtomic(jp, append(js, '\n')); err != nil {
		return err
	}
	return writeFileAtomic(cp, cs)
}

func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("redact: writing report: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("redact: writing report %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("redact: writing report %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("redact: writing report %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("redact: writing report %s: %w", path, err)
	}
	ok = true
	return nil
}
