package transcodecli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"image/jpeg"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/asticode/go-astiav"

	"github.com/opendems/opendems/cmd/demsd/internal/transcodecli"
	"github.com/opendems/opendems/transcode"
)

func TestMain(m *testing.M) {
	astiav.SetLogLevel(astiav.LogLevelQuiet)
	os.Exit(m.Run())
}

func clip(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "clip.mp4")
	out, err := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
		"-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=2",
		"-f", "lavfi", "-i", "sine=duration=2", "-c:v", "libx264", "-preset", "ultrafast",
		"-pix_fmt", "yuv420p", "-c:a", "aac", path).CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, out)
	}
	return path
}

func TestProbeCommand(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	if err := transcodecli.ProbeCommand(context.Background(), &out, clip(t)); err != nil {
		t.Fatal(err)
	}
	var r transcode.ProbeResult
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatalf("stdout is not a probe result: %v\n%s", err, out.String())
	}
	if !r.HasVideo || !r.HasAudio || len(r.Streams) != 2 || r.Streams[0].Width != 320 {
		t.Errorf("probe result %+v", r)
	}
	if err := transcodecli.ProbeCommand(context.Background(), &out, filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("missing file: no error")
	}
}

func TestProxyCommand(t *testing.T) {
	t.Parallel()
	in := clip(t)
	out := filepath.Join(t.TempDir(), "p.mp4")
	var stdout, stderr bytes.Buffer
	err := transcodecli.ProxyCommand(context.Background(), &stdout, &stderr, in, out,
		transcodecli.ProxyCommandOptions{Proxy: transcode.ProxyOptions{Threads: 1, Preset: "ultrafast"}})
	if err != nil {
		t.Fatal(err)
	}
	var res transcode.ProxyResult
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil || res.Width != 320 || !res.HasAudio {
		t.Errorf("stdout %q: %v", stdout.String(), err)
	}
	// Not a terminal: no progress bar noise in logs.
	if stderr.Len() != 0 {
		t.Errorf("stderr not empty for a non-terminal: %q", stderr.String())
	}
	r, err := transcode.Probe(context.Background(), out)
	if err != nil || r.Streams[0].Codec != "h264" {
		t.Errorf("proxy output: %+v %v", r, err)
	}
	err = transcodecli.ProxyCommand(context.Background(), &stdout, &stderr, in, out, transcodecli.ProxyCommandOptions{Proxy: transcode.ProxyOptions{CRF: 99}})
	if !errors.Is(err, transcode.ErrInvalidOptions) {
		t.Errorf("bad crf: %v", err)
	}
}

func TestThumbnailsCommand(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	poster, sprite := filepath.Join(dir, "poster.jpg"), filepath.Join(dir, "sprite.jpg")
	var stdout bytes.Buffer
	err := transcodecli.ThumbnailsCommand(context.Background(), &stdout, clip(t), transcodecli.ThumbnailsCommandOptions{
		PosterPath: poster, SpritePath: sprite, Sprite: transcode.SpriteOptions{Tiles: 4, Columns: 2},
	})
	if err != nil {
		t.Fatal(err)
	}
	var res transcodecli.ThumbnailsResult
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil || res.Poster == nil || res.Sprite == nil || len(res.Sprite.Tiles) != 4 {
		t.Fatalf("stdout %q: %v", stdout.String(), err)
	}
	for path, want := range map[string][2]int{poster: {res.Poster.Width, res.Poster.Height}, sprite: {res.Sprite.Width, res.Sprite.Height}} {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := jpeg.DecodeConfig(f)
		f.Close()
		if err != nil || cfg.Width != want[0] || cfg.Height != want[1] {
			t.Errorf("%s: %dx%d %v, want %v", path, cfg.Width, cfg.Height, err, want)
		}
	}
	// A failed thumbnail leaves no file behind.
	bad := filepath.Join(dir, "bad.jpg")
	garbage := filepath.Join(dir, "garbage")
	if err := os.WriteFile(garbage, []byte("not media at all, not media at all"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := transcodecli.ThumbnailsCommand(context.Background(), &stdout, garbage, transcodecli.ThumbnailsCommandOptions{PosterPath: bad}); !errors.Is(err, transcode.ErrCorruptMedia) {
		t.Errorf("garbage: %v", err)
	}
	if _, err := os.Stat(bad); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("failed poster left a file: %v", err)
	}
}
