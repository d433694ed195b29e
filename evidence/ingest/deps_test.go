package ingest_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestIngestIsPureGo keeps the upload path free of FFmpeg: `go list -deps`
// of the package (its whole import graph, not the tests') names neither
// go-astiav nor the media packages. Work that needs them (transcode,
// retention) is enqueued through the commit hook demsd wires.
func TestIngestIsPureGo(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/opendems/opendems/evidence/ingest").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		switch {
		case strings.Contains(dep, "go-astiav"), strings.HasSuffix(dep, "opendems/transcode"),
			strings.HasSuffix(dep, "opendems/redact"), strings.HasSuffix(dep, "opendems/evidence/jobs"):
			t.Errorf("evidence/ingest depends on %s", dep)
		}
	}
}
