package spec

import (
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReportFiles writes a report beside an output path and reads both
// files back: the JSON is the report, the CSV has one row per item.
func TestReportFiles(t *testing.T) {
	out := filepath.Join(t.TempDir(), "clip.mp4")
	r := &Report{Version: ReportVersion, ClipSource: "item-1", In: 1, Out: 5,
		Source: FileDigest{Path: "in.mp4", Size: 10, SHA256: strings.Repeat("a", 64)},
		Items:  []ReportItem{{ID: "r1", Kind: KindRegion, Start: 1, End: 2, OutputStart: 0, OutputEnd: 1, Method: "blur strength 40 (ellipse)", Reason: "b(7)(C)", Origin: OriginManual, Frames: 25}}}
	if err := r.WriteFiles(out); err != nil {
		t.Fatal(err)
	}
	jp, cp := ReportPaths(out)
	b, err := os.ReadFile(jp)
	if err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(b, &back); err != nil || back.ClipSource != "item-1" || len(back.Items) != 1 || back.Items[0].Reason != "b(7)(C)" {
		t.Fatalf("json: %+v %v", back, err)
	}
	f, err := os.Open(cp)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil || len(rows) != 2 || rows[1][0] != "r1" {
		t.Fatalf("csv: %v %v", rows, err)
	}
}
