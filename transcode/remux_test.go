package transcode_test

import (
	"context"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/opendems/opendems/transcode"
)

// packetHashes lists the MD5 of every packet of the first video stream of
// path, in file order, as ffprobe (an independent reader) reports them.
func packetHashes(t *testing.T, path string) []string {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "v:0", "-show_data_hash", "MD5",
		"-show_entries", "packet=data_hash", "-of", "csv=p=0", path).Output()
	if err != nil {
		t.Fatalf("ffprobe packets of %s: %v", path, err)
	}
	return strings.Fields(string(out))
}

// TestProxyRemux: a browser-ready H.264/AAC MP4 is remuxed (packets
// copied bit for bit, moov moved to the front) and its stills still come
// from the one pass; every source that breaks the remux rule is encoded
// and says which part it broke. Every proxy decodes completely.
func TestProxyRemux(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := func(n string) string { return filepath.Join(dir, n) }
	src := []string{"-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25:duration=4",
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100:duration=4", "-ac", "2"}
	x264 := []string{"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", "25"}
	// ready: high profile with B-frames, 1 s GOP, AAC-LC, moov at the end.
	ffmpeg(t, append(append(append([]string{}, src...), x264...), "-profile:v", "high", "-bf", "2", "-c:a", "aac", "-shortest", p("ready.mp4"))...)
	ffmpeg(t, append(append(append([]string{}, src...), x264...), "-c:a", "aac", "-x264opts", "keyint=100:min-keyint=100", "-shortest", p("longgop.mp4"))...)
	ffmpeg(t, append(append([]string{}, src...), "-c:v", "libx265", "-preset", "ultrafast", "-x265-params", "log-level=none:keyint=25", "-tag:v", "hvc1", "-c:a", "aac", "-shortest", p("hevc.mp4"))...)
	ffmpeg(t, append(append([]string{}, src...), "-c:v", "mjpeg", "-q:v", "5", "-pix_fmt", "yuvj420p", "-c:a", "pcm_alaw", "-ar", "8000", "-ac", "1", "-shortest", p("cctv.avi"))...)
	ffmpeg(t, "-i", p("ready.mp4"), "-c", "copy", "-metadata:s:v:0", "rotate=90", p("rotated.mp4"))
	ffmpeg(t, "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=50:duration=4", "-vf", "tinterlace=mode=interleave_top,setfield=tff",
		"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", "25", "-flags", "+ildct+ilme", "-x264opts", "tff=1", p("interlaced.mp4"))
	ffmpeg(t, append(append(append([]string{}, src...), x264...), "-s", "1920x1080", "-c:a", "aac", "-shortest", p("big.mp4"))...)

	cases := []struct {
		name, method, reason string
	}{
		{"ready.mp4", transcode.ProxyRemuxed, ""},
		{"longgop.mp4", transcode.ProxyEncoded, "keyframe interval"},
		{"hevc.mp4", transcode.ProxyEncoded, "not H.264"},
		{"cctv.avi", transcode.ProxyEncoded, "not MP4"},
		{"rotated.mp4", transcode.ProxyEncoded, "rotated"},
		{"interlaced.mp4", transcode.ProxyEncoded, "interlaced"},
		{"big.mp4", transcode.ProxyEncoded, "size 1920x1080"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := p(tc.name)
			out := p(tc.name + ".proxy.mp4")
			res, err := transcode.Process(context.Background(), in, transcode.ProcessOptions{
				ProxyPath: out, Proxy: transcode.ProxyOptions{Preset: "ultrafast", Threads: 1},
				Poster: &transcode.PosterOptions{}, Sprite: &transcode.SpriteOptions{Tiles: 8, Columns: 4, TileWidth: 80},
			})
			if err != nil || res.ProxyErr != nil || res.PosterErr != nil || res.SpriteErr != nil {
				t.Fatalf("Process: %v (proxy %v, poster %v, sprite %v)", err, res.ProxyErr, res.PosterErr, res.SpriteErr)
			}
			pr := res.Proxy
			if pr.Method != tc.method || !strings.Contains(pr.NotRemuxed, tc.reason) {
				t.Fatalf("method %q (not remuxed: %q), want %q (%q)", pr.Method, pr.NotRemuxed, tc.method, tc.reason)
			}
			if len(res.Sprite.Tiles) != 8 || len(res.PosterJPEG) == 0 {
				t.Errorf("stills: %d tiles, poster %d bytes", len(res.Sprite.Tiles), len(res.PosterJPEG))
			}
			if pr.Completeness.Partial {
				t.Errorf("a whole file judged partial: %+v", pr.Completeness)
			}
			atoms := topLevelAtoms(t, out)
			if m, d := indexOf(atoms, "moov"), indexOf(atoms, "mdat"); m < 0 || d < 0 || m > d {
				t.Errorf("not faststart: atoms %v", atoms)
			}
			want := 100 // 4 s at 25 fps (the interlaced source: 25 frames of two fields)
			if got := streamFrames(t, out); got != want {
				t.Errorf("proxy decodes %d frames, want %d", got, want)
			}
			if tc.method == transcode.ProxyRemuxed {
				srcPk, outPk := packetHashes(t, in), packetHashes(t, out)
				if len(srcPk) != want || !slices.Equal(srcPk, outPk) {
					t.Errorf("remuxed video packets differ from the source's (%d vs %d packets)", len(srcPk), len(outPk))
				}
				if !pr.HasAudio || pr.Width != 640 || pr.Height != 360 {
					t.Errorf("remux result %+v", pr)
				}
			}
		})
	}

	// NoRemux forces an encode of the browser-ready file.
	res, err := transcode.Proxy(context.Background(), p("ready.mp4"), p("forced.mp4"), transcode.ProxyOptions{Preset: "ultrafast", NoRemux: true}, nil)
	if err != nil || res.Method != transcode.ProxyEncoded {
		t.Fatalf("NoRemux: %+v, %v", res, err)
	}
	if slices.Equal(packetHashes(t, p("ready.mp4")), packetHashes(t, p("forced.mp4"))) {
		t.Error("NoRemux copied the packets")
	}
}
