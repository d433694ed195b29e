package transcode_test

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/asticode/go-astiav"

	"github.com/opendems/opendems/transcode"
)

// TestFFmpegLogRoutesToJob: FFmpeg's complaints about a cut-short file go
// to slog at debug level with the job's attributes, not to stderr, and the
// caller gets one error per failure from this package instead.
// Not parallel: FFmpeg's log callback is process-wide.
func TestFFmpegLogRoutesToJob(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	fl := transcode.NewFFmpegLog(logger)
	fl.Install(astiav.LogLevelWarning)
	t.Cleanup(func() {
		astiav.ResetLogCallback()
		astiav.SetLogLevel(astiav.LogLevelQuiet)
	})
	dir := t.TempDir()
	full, cut := filepath.Join(dir, "full.mp4"), filepath.Join(dir, "cut.mp4")
	ffmpeg(t, "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=2", "-c:v", "libx264", "-preset", "ultrafast",
		"-pix_fmt", "yuv420p", "-movflags", "+faststart", full)
	b, err := os.ReadFile(full)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cut, b[:len(b)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := fl.WithJob(context.Background(), "evidence_id", "item-42")
	res, err := transcode.Process(ctx, cut, transcode.ProcessOptions{ProxyPath: filepath.Join(dir, "p.mp4"), Poster: &transcode.PosterOptions{}})
	if err != nil || res.ProxyErr != nil || !res.Proxy.Completeness.Partial {
		t.Fatalf("process: %v %v %+v", err, res.ProxyErr, res.Proxy)
	}
	var tagged int
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if !strings.Contains(line, "level=DEBUG") || !strings.Contains(line, `msg="ffmpeg: `) {
			t.Errorf("line not routed as debug: %s", line)
		}
		if strings.Contains(line, "evidence_id=item-42") {
			tagged++
		}
	}
	if tagged == 0 {
		t.Fatalf("no FFmpeg line carries the job's id:\n%s", buf.String())
	}
}
