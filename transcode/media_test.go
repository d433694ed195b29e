package transcode_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/asticode/go-astiav"
)

func TestMain(m *testing.M) {
	// FFmpeg warns loudly on the corrupt inputs these tests feed it.
	astiav.SetLogLevel(astiav.LogLevelQuiet)
	code := m.Run()
	if fixture.dir != "" {
		_ = os.RemoveAll(fixture.dir)
	}
	os.Exit(code)
}

// fixtures are generated once per test binary with the ffmpeg CLI (an
// independent reference) from libavfilter's test sources.
type fixtures struct {
	dir string
	err error
}

var fixtureOnce sync.Once
var fixture fixtures

func ffmpeg(t testing.TB, args ...string) {
	t.Helper()
	cmd := exec.Command("ffmpeg", append([]string{"-hide_banner", "-loglevel", "error", "-y"}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("ffmpeg %v: %v\n%s", args, err, stderr.String())
	}
}

// media returns the path of a named fixture, generating all of them on first
// use.
func media(t testing.TB, name string) string {
	t.Helper()
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Fatalf("ffmpeg CLI needed to generate test media: %v", err)
	}
	fixtureOnce.Do(func() {
		dir, err := os.MkdirTemp("", "transcode-media-")
		if err != nil {
			fixture.err = err
			return
		}
		fixture.dir = dir
		p := func(n string) string { return filepath.Join(dir, n) }
		// normal: 640x360 25 fps H.264 + stereo AAC, 3 s, moov at the end.
		ffmpeg(t, "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25:duration=3",
			"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100:duration=3",
			"-ac", "2", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac",
			"-metadata", "creation_time=2024-05-01T12:34:56Z",
			"-metadata", "location=+51.5074-000.1278/",
			"-metadata", "make=OpenDEMS TestCam",
			"-metadata", "model=BWC-1",
			p("normal.mp4"))
		// odd: 321x239 (testsrc, since testsrc2 rounds to even), MPEG-4
		// part 2 in Matroska, mono Opus.
		ffmpeg(t, "-f", "lavfi", "-i", "testsrc=size=321x239:rate=30:duration=2",
			"-f", "lavfi", "-i", "sine=frequency=1000:sample_rate=8000:duration=2",
			"-c:v", "mpeg4", "-pix_fmt", "yuv420p", "-c:a", "libopus", "-ac", "1",
			p("odd.mkv"))
		// rotated: 320x240 frames with a display matrix saying "turn 90°"
		// (the ffmpeg 5.1 CLI writes the matrix only when stream-copying
		// with a rotate tag, so encode first, then remux).
		ffmpeg(t, "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=2",
			"-f", "lavfi", "-i", "sine=frequency=500:sample_rate=48000:duration=2",
			"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", p("unrotated.mp4"))
		ffmpeg(t, "-i", p("unrotated.mp4"), "-c", "copy", "-metadata:s:v:0", "rotate=90", p("rotated.mp4"))
		// tagged: QuickTime with Apple-style location/device keys.
		ffmpeg(t, "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=15:duration=1",
			"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
			"-movflags", "use_metadata_tags",
			"-metadata", "com.apple.quicktime.location.ISO6709=+37.3318-122.0312+012.345/",
			"-metadata", "com.apple.quicktime.make=Apple",
			"-metadata", "com.apple.quicktime.model=iPhone 15",
			"-metadata", "com.apple.quicktime.software=17.1",
			"-metadata", "com.apple.quicktime.creationdate=2023-11-02T08:09:10+0100",
			p("tagged.mov"))
		// vfr: frame timestamps with varying gaps (drop random frames).
		ffmpeg(t, "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30:duration=3",
			"-f", "lavfi", "-i", "sine=frequency=300:sample_rate=48000:duration=3",
			"-vf", "select='not(eq(mod(n\\,7)\\,3))*not(eq(mod(n\\,11)\\,5))'", "-fps_mode", "vfr",
			"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", p("vfr.mp4"))
		// noaudio: video only.
		ffmpeg(t, "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=2",
			"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", p("noaudio.mp4"))
		// audioonly: WAV.
		ffmpeg(t, "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=22050:duration=2", "-ac", "2", p("audioonly.wav"))
		// big: 1280x960 (4:3 above 720p) MJPEG-ish full-range input.
		ffmpeg(t, "-f", "lavfi", "-i", "testsrc2=size=1280x960:rate=10:duration=1",
			"-c:v", "mjpeg", "-pix_fmt", "yuvj420p", p("big.avi"))
		// black start: 1 s of black, then picture (poster must skip it).
		ffmpeg(t, "-f", "lavfi", "-i", "color=black:size=320x240:rate=25:duration=1",
			"-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=2",
			"-filter_complex", "[0:v][1:v]concat=n=2:v=1:a=0", "-c:v", "libx264", "-preset", "ultrafast",
			"-pix_fmt", "yuv420p", p("blackstart.mp4"))
		// stream.ts: MPEG-TS, readable from a pipe (no seeking needed).
		ffmpeg(t, "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=3",
			"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-f", "mpegts", p("stream.ts"))
		// interlaced: 25 fps TFF, fields from 50 fps motion (real combing).
		ffmpeg(t, "-f", "lavfi", "-i", "testsrc2=size=640x480:rate=50:duration=2",
			"-vf", "tinterlace=mode=interleave_top,setfield=tff", "-c:v", "libx264", "-preset", "ultrafast",
			"-flags", "+ildct+ilme", "-x264opts", "tff=1", "-pix_fmt", "yuv420p", p("interlaced.mp4"))
		ffmpeg(t, "-i", p("interlaced.mp4"), "-c", "copy", "-metadata:s:v:0", "rotate=90", p("interlaced_rotated.mp4"))
		// sizechange: MPEG-TS whose picture size changes from 320x240
		// (black) to 640x360 (16:9, picture) after 1 s, as when a recorder
		// switches mode.
		ffmpeg(t, "-f", "lavfi", "-i", "color=black:size=320x240:rate=25:duration=1",
			"-f", "lavfi", "-i", "sine=sample_rate=48000:duration=1",
			"-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-f", "mpegts", p("part1.ts"))
		ffmpeg(t, "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25:duration=1",
			"-f", "lavfi", "-i", "sine=sample_rate=44100:duration=1",
			"-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-output_ts_offset", "1", "-f", "mpegts", p("part2.ts"))
		var joined []byte
		for _, part := range []string{"part1.ts", "part2.ts"} {
			b, err := os.ReadFile(p(part))
			if err != nil {
				fixture.err = err
				return
			}
			joined = append(joined, b...)
		}
		if err := os.WriteFile(p("sizechange.ts"), joined, 0o644); err != nil {
			fixture.err = err
			return
		}
		// truncated: first third of normal.mp4 (moov at the end → missing).
		b, err := os.ReadFile(p("normal.mp4"))
		if err != nil {
			fixture.err = err
			return
		}
		if err := os.WriteFile(p("truncated.mp4"), b[:len(b)/3], 0o644); err != nil {
			fixture.err = err
			return
		}
		// garbage: bytes that are no media format.
		garbage := bytes.Repeat([]byte("this is not a video file\x00\x01\x02"), 200)
		if err := os.WriteFile(p("garbage.bin"), garbage, 0o644); err != nil {
			fixture.err = err
		}
	})
	if fixture.err != nil {
		t.Fatalf("generating fixtures: %v", fixture.err)
	}
	path := filepath.Join(fixture.dir, name)
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("fixture %s: %v", name, err)
	}
	return path
}
