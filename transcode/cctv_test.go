package transcode_test

import (
	"bytes"
	"context"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/opendems/opendems/transcode"
)

// cctvFile is one class of file as cameras and NVRs write them, made by the
// ffmpeg CLI (an independent reference) in the test.
type cctvFile struct {
	name string
	make func(t *testing.T, path string)
	// duration and how it is derived.
	duration float64
	source   string
	partial  bool
}

// 4 s of 320x240 at 12.5 fps (a CIF-like NVR rate): 50 frames.
var cctvSrc = []string{"-f", "lavfi", "-i", "testsrc2=size=320x240:rate=12.5:duration=4"}

func x264(format string) []string {
	return []string{"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-f", format}
}

var cctvFiles = []cctvFile{
	{name: "nvr.ts", duration: 4, source: transcode.DurationFromContainer, make: func(t *testing.T, p string) {
		ffmpeg(t, append(append([]string{}, cctvSrc...), append(x264("mpegts"), p)...)...)
	}},
	{name: "nvr.h264", duration: 4, source: transcode.DurationFromFrameCount, make: func(t *testing.T, p string) {
		ffmpeg(t, append(append([]string{}, cctvSrc...), append(x264("h264"), p)...)...)
	}},
	{name: "nvr.264", duration: 4, source: transcode.DurationFromFrameCount, make: func(t *testing.T, p string) {
		ffmpeg(t, append(append([]string{}, cctvSrc...), append(x264("h264"), p)...)...)
	}},
	{name: "nvr.265", duration: 4, source: transcode.DurationFromFrameCount, make: func(t *testing.T, p string) {
		ffmpeg(t, append(append([]string{}, cctvSrc...), "-c:v", "libx265", "-preset", "ultrafast",
			"-x265-params", "log-level=error", "-pix_fmt", "yuv420p", "-f", "hevc", p)...)
	}},
	// A camera file cut short: index (moov) at the front declares 4 s,
	// only the first half of the file made it.
	{name: "cut.mp4", duration: 4, source: transcode.DurationFromContainer, partial: true, make: func(t *testing.T, p string) {
		full := p + ".full.mp4"
		ffmpeg(t, append(append([]string{}, cctvSrc...), "-f", "lavfi", "-i", "sine=sample_rate=8000:duration=4",
			"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac",
			"-movflags", "+faststart", full)...)
		b, err := os.ReadFile(full)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b[:len(b)/2], 0o644); err != nil {
			t.Fatal(err)
		}
	}},
	// Matroska written to a pipe (as some NVRs stream it): no duration in
	// the header, so it is taken from the packets' timestamps.
	{name: "piped.mkv", duration: 4, source: transcode.DurationFromTimestamps, make: func(t *testing.T, p string) {
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		cmd := exec.Command("ffmpeg", append(append([]string{"-hide_banner", "-loglevel", "error", "-y"}, cctvSrc...),
			append(x264("matroska"), "pipe:1")...)...)
		var stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = f, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("ffmpeg: %v\n%s", err, stderr.String())
		}
	}},
	// One frame: a duration of a single frame, no more.
	{name: "oneframe.h264", duration: 0.08, source: transcode.DurationFromFrameCount, make: func(t *testing.T, p string) {
		ffmpeg(t, append(append([]string{}, cctvSrc...), append([]string{"-frames:v", "1"}, append(x264("h264"), p)...)...)...)
	}},
}

// decodedFrames counts the video frames the ffmpeg CLI's decoder gets out
// of path: the reference for "nothing lost, nothing invented".
func decodedFrames(t *testing.T, path string) int64 {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
		"-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	n, err := strconv.ParseInt(strings.TrimSpace(strings.Split(string(out), "\n")[0]), 10, 64)
	if err != nil {
		t.Fatalf("ffprobe %s: %q: %v", path, out, err)
	}
	return n
}

// TestCCTVFiles runs every class through Probe, the one-pass Process and
// the standalone Poster/Sprite: each output is made, the duration is
// derived and labelled, a cut-short file is reported partial and its
// sprite has no tile past the end of what decodes.
func TestCCTVFiles(t *testing.T) {
	t.Parallel()
	for _, tc := range cctvFiles {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			src := filepath.Join(dir, tc.name)
			tc.make(t, src)
			ctx := context.Background()

			probe, err := transcode.Probe(ctx, src)
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(probe.Duration-tc.duration) > 0.05 || probe.DurationSource != tc.source {
				t.Fatalf("probe duration %.3f (%s), want %.3f (%s)", probe.Duration, probe.DurationSource, tc.duration, tc.source)
			}

			out := filepath.Join(dir, "proxy.mp4")
			res, err := transcode.Process(ctx, src, transcode.ProcessOptions{
				ProxyPath: out, Proxy: transcode.ProxyOptions{Preset: "ultrafast", Threads: 1},
				Poster: &transcode.PosterOptions{}, Sprite: &transcode.SpriteOptions{Tiles: 8, Columns: 4},
			})
			if err != nil || res.ProxyErr != nil || res.PosterErr != nil || res.SpriteErr != nil {
				t.Fatalf("process: %v / proxy %v / poster %v / sprite %v", err, res.ProxyErr, res.PosterErr, res.SpriteErr)
			}
			if res.Duration != probe.Duration || res.DurationSource != probe.DurationSource {
				t.Errorf("process duration %v (%s), probe %v (%s)", res.Duration, res.DurationSource, probe.Duration, probe.DurationSource)
			}
			// Nothing lost, nothing invented: the proxy holds exactly the
			// frames FFmpeg's own CLI decodes from the source.
			want := decodedFrames(t, src)
			if res.Proxy.VideoFrames != want {
				t.Errorf("proxy took %d frames, the ffmpeg CLI decodes %d", res.Proxy.VideoFrames, want)
			}
			if got := decodedFrames(t, out); got != want {
				t.Errorf("proxy file has %d frames, source %d", got, want)
			}
			c := res.Proxy.Completeness
			if c.Partial != tc.partial {
				t.Errorf("completeness %+v, want partial=%v", c, tc.partial)
			}
			if !tc.partial && math.Abs(c.DecodedDuration-tc.duration) > 0.1 {
				t.Errorf("decoded %.3f s of %.3f", c.DecodedDuration, tc.duration)
			}
			if tc.partial && (c.DecodedDuration < 1 || c.DecodedDuration > 3.5) {
				t.Errorf("cut file decoded %.3f s", c.DecodedDuration)
			}
			if len(res.PosterJPEG) == 0 || res.Poster.Width != 320 {
				t.Errorf("poster %+v (%d bytes)", res.Poster, len(res.PosterJPEG))
			}
			checkSprite(t, "process", res.Sprite, res.SpriteJPEG, c.DecodedDuration, tc.partial)

			// The standalone functions (CLI, redaction) agree: the seek
			// that lands nowhere is retried from the start.
			var pb, sb bytes.Buffer
			if _, err := transcode.Poster(ctx, src, &pb, transcode.PosterOptions{}); err != nil {
				t.Errorf("poster: %v", err)
			}
			sr, err := transcode.Sprite(ctx, src, &sb, transcode.SpriteOptions{Tiles: 8, Columns: 4})
			if err != nil {
				t.Fatalf("sprite: %v", err)
			}
			checkSprite(t, "sprite", sr, sb.Bytes(), c.DecodedDuration, tc.partial)
		})
	}
}

func checkSprite(t *testing.T, what string, sr *transcode.SpriteResult, jpg []byte, decoded float64, partial bool) {
	t.Helper()
	img := decodeJPEG(t, jpg)
	if img.Bounds().Dx() != sr.Width || img.Bounds().Dy() != sr.Height || sr.Height != sr.Rows*sr.TileHeight {
		t.Errorf("%s: image %v, result %dx%d (%d rows)", what, img.Bounds(), sr.Width, sr.Height, sr.Rows)
	}
	if sr.Requested != 8 || len(sr.Tiles)+sr.Missing != sr.Requested {
		t.Errorf("%s: %d tiles + %d missing of %d", what, len(sr.Tiles), sr.Missing, sr.Requested)
	}
	if partial != (sr.Missing > 0) {
		t.Errorf("%s: %d tiles missing, partial=%v", what, sr.Missing, partial)
	}
	prev := -1.0
	for i, tl := range sr.Tiles {
		// No tile past the end of what decodes, and no tile repeats the
		// last good frame (distinct, increasing times) — except in a
		// one-frame recording, whose only frame is on screen throughout.
		if tl.Index != i || tl.Time > decoded+1e-6 || (tl.Time <= prev && decoded > 0.1) {
			t.Errorf("%s: tile %d %+v (decoded %.3f s, previous %.3f)", what, i, tl, decoded, prev)
		}
		prev = tl.Time
	}
}

// TestProcessOutputsFailAlone: an output that cannot be made fails with its
// own error while the others are made.
func TestProcessOutputsFailAlone(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	t.Run("bad sprite options keep proxy and poster", func(t *testing.T) {
		out := filepath.Join(dir, "a.mp4")
		res, err := transcode.Process(ctx, media(t, "normal.mp4"), transcode.ProcessOptions{
			ProxyPath: out, Proxy: transcode.ProxyOptions{Preset: "ultrafast"},
			Poster: &transcode.PosterOptions{}, Sprite: &transcode.SpriteOptions{Tiles: 1000},
		})
		if err != nil || res.ProxyErr != nil || res.PosterErr != nil || !errors.Is(res.SpriteErr, transcode.ErrInvalidOptions) {
			t.Fatalf("err %v proxy %v poster %v sprite %v", err, res.ProxyErr, res.PosterErr, res.SpriteErr)
		}
		if _, err := os.Stat(out); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("audio only: proxy, no thumbnails", func(t *testing.T) {
		out := filepath.Join(dir, "b.m4a")
		res, err := transcode.Process(ctx, media(t, "audioonly.wav"), transcode.ProcessOptions{
			ProxyPath: out, Poster: &transcode.PosterOptions{}, Sprite: &transcode.SpriteOptions{},
		})
		if err != nil || res.ProxyErr != nil || !errors.Is(res.PosterErr, transcode.ErrNoVideo) || !errors.Is(res.SpriteErr, transcode.ErrNoVideo) {
			t.Fatalf("err %v proxy %v poster %v sprite %v", err, res.ProxyErr, res.PosterErr, res.SpriteErr)
		}
	})
	t.Run("proxy cannot be written: thumbnails still made", func(t *testing.T) {
		out := filepath.Join(dir, "missing-dir", "c.mp4")
		res, err := transcode.Process(ctx, media(t, "normal.mp4"), transcode.ProcessOptions{
			ProxyPath: out, Poster: &transcode.PosterOptions{}, Sprite: &transcode.SpriteOptions{Tiles: 4},
		})
		if err != nil || res.ProxyErr == nil || res.PosterErr != nil || res.SpriteErr != nil || len(res.Sprite.Tiles) != 4 {
			t.Fatalf("err %v proxy %v poster %v sprite %v", err, res.ProxyErr, res.PosterErr, res.SpriteErr)
		}
	})
	t.Run("thumbnails only", func(t *testing.T) {
		res, err := transcode.Process(ctx, media(t, "stream.ts"), transcode.ProcessOptions{
			Poster: &transcode.PosterOptions{}, Sprite: &transcode.SpriteOptions{Tiles: 4},
		})
		if err != nil || res.Proxy != nil || res.PosterErr != nil || res.SpriteErr != nil || len(res.Sprite.Tiles) != 4 {
			t.Fatalf("err %v proxy %v poster %v sprite %v", err, res.Proxy, res.PosterErr, res.SpriteErr)
		}
	})
	t.Run("zero bytes: one clear error per output", func(t *testing.T) {
		empty := filepath.Join(dir, "empty.mp4")
		if err := os.WriteFile(empty, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		res, err := transcode.Process(ctx, empty, transcode.ProcessOptions{
			ProxyPath: filepath.Join(dir, "d.mp4"), Poster: &transcode.PosterOptions{},
		})
		if !errors.Is(err, transcode.ErrCorruptMedia) {
			t.Fatalf("err %v", err)
		}
		want := "proxy: open input " + empty + ": corrupt or unreadable media: not a media file (zero bytes)"
		if res.ProxyErr == nil || res.ProxyErr.Error() != want {
			t.Fatalf("proxy error %q, want %q", res.ProxyErr, want)
		}
		if res.PosterErr == nil || !strings.HasPrefix(res.PosterErr.Error(), "poster: open input ") {
			t.Fatalf("poster error %v", res.PosterErr)
		}
		if _, err := os.Stat(filepath.Join(dir, "d.mp4")); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("a proxy was left behind: %v", err)
		}
	})
}
