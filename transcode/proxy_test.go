package transcode_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/opendems/opendems/transcode"
)

// topLevelAtoms lists the top-level MP4 boxes of path in file order.
func topLevelAtoms(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var atoms []string
	var off int64
	hdr := make([]byte, 16)
	for {
		if _, err := f.ReadAt(hdr[:8], off); err != nil {
			if errors.Is(err, io.EOF) {
				return atoms
			}
			t.Fatal(err)
		}
		size := int64(binary.BigEndian.Uint32(hdr[:4]))
		typ := string(hdr[4:8])
		switch size {
		case 0:
			return append(atoms, typ)
		case 1:
			if _, err := f.ReadAt(hdr[8:16], off+8); err != nil {
				t.Fatal(err)
			}
			size = int64(binary.BigEndian.Uint64(hdr[8:16]))
		}
		if size < 8 {
			t.Fatalf("bad atom %q size %d at %d", typ, size, off)
		}
		atoms = append(atoms, typ)
		off += size
	}
}

func indexOf(list []string, s string) int {
	for i, v := range list {
		if v == s {
			return i
		}
	}
	return -1
}

// streamFrames counts the frames of the first video stream that ffprobe
// decodes and presents (frames an edit list hides are not counted).
func streamFrames(t *testing.T, path string) int {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "v:0", "-count_frames",
		"-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", path).Output()
	if err != nil {
		t.Fatalf("ffprobe count: %v", err)
	}
	// Side data (display matrix) adds fields after the count.
	first, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	first, _, _ = strings.Cut(first, ",")
	n, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil {
		t.Fatalf("ffprobe count %q: %v", out, err)
	}
	return n
}

func TestProxy(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in           string
		ext          string
		wantW, wantH int // 0,0 for audio only
		wantAudio    bool
		sameFrames   bool // every source frame kept (no fps conversion)
	}{
		{"normal.mp4", ".mp4", 640, 360, true, true},
		{"odd.mkv", ".mp4", 320, 238, true, true},
		{"rotated.mp4", ".mp4", 240, 320, true, true},
		{"vfr.mp4", ".mp4", 320, 240, true, true},
		{"noaudio.mp4", ".mp4", 320, 240, false, true},
		{"audioonly.wav", ".m4a", 0, 0, true, false},
		{"big.avi", ".mp4", 960, 720, false, true},
		{"interlaced.mp4", ".mp4", 640, 480, false, true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			src := media(t, tc.in)
			out := filepath.Join(t.TempDir(), "proxy"+tc.ext)
			var last transcode.Progress
			calls := 0
			res, err := transcode.Proxy(context.Background(), src, out, transcode.ProxyOptions{Threads: 1, Preset: "ultrafast"},
				func(p transcode.Progress) {
					if p.Percent < last.Percent {
						t.Errorf("progress went back: %.1f after %.1f", p.Percent, last.Percent)
					}
					last = p
					calls++
				})
			if err != nil {
				t.Fatal(err)
			}
			if calls < 2 || last.Percent != 100 {
				t.Errorf("progress: %d calls, last %.1f%%", calls, last.Percent)
			}
			if res.HasAudio != tc.wantAudio || res.HasVideo != (tc.wantW > 0) || res.Width != tc.wantW || res.Height != tc.wantH {
				t.Errorf("result %+v", res)
			}

			// Independent check of the output with ffprobe.
			got := ffprobe(t, out)
			var video, audio int
			for _, s := range got.Streams {
				switch s.CodecType {
				case "video":
					video++
					if s.CodecName != "h264" || s.PixFmt != "yuv420p" {
						t.Errorf("video %s %s, want h264 yuv420p", s.CodecName, s.PixFmt)
					}
					if s.Width != tc.wantW || s.Height != tc.wantH || s.Width%2 != 0 || s.Height%2 != 0 {
						t.Errorf("size %dx%d, want %dx%d", s.Width, s.Height, tc.wantW, tc.wantH)
					}
					if min(s.Width, s.Height) > 720 || max(s.Width, s.Height) > 1280 {
						t.Errorf("size %dx%d above 720p", s.Width, s.Height)
					}
				case "audio":
					audio++
					if s.CodecName != "aac" {
						t.Errorf("audio codec %s", s.CodecName)
					}
				}
			}
			if video != map[bool]int{true: 1, false: 0}[tc.wantW > 0] || audio != map[bool]int{true: 1, false: 0}[tc.wantAudio] {
				t.Errorf("%d video and %d audio streams", video, audio)
			}
			srcDur := ffprobe(t, src).duration(t)
			if d := got.duration(t); math.Abs(d-srcDur) > 0.1 {
				t.Errorf("duration %.3f, source %.3f", d, srcDur)
			}
			atoms := topLevelAtoms(t, out)
			if m, d := indexOf(atoms, "moov"), indexOf(atoms, "mdat"); m < 0 || d < 0 || m > d {
				t.Errorf("atoms %v: moov must come before mdat", atoms)
			}
			if tc.sameFrames {
				if a, b := streamFrames(t, src), streamFrames(t, out); a != b {
					t.Errorf("%d frames, source %d", b, a)
				}
			}
		})
	}
}

// idet runs FFmpeg's interlace detector over path and returns how many
// frames it found interlaced (TFF+BFF) and progressive, on the stored
// pictures (no autorotate: turning fields into columns hides them).
func idet(t *testing.T, path, prefilter string) (interlaced, progressive int) {
	t.Helper()
	out, err := exec.Command("ffmpeg", "-hide_banner", "-nostats", "-noautorotate", "-i", path, "-an", "-vf", prefilter+"idet", "-f", "null", "-").CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg idet: %v\n%s", err, out)
	}
	i := strings.Index(string(out), "Multi frame detection:")
	if i < 0 {
		t.Fatalf("no idet summary in:\n%s", out)
	}
	var tff, bff, prog, und int
	if _, err := fmt.Sscanf(string(out[i:]), "Multi frame detection: TFF: %d BFF: %d Progressive: %d Undetermined: %d", &tff, &bff, &prog, &und); err != nil {
		t.Fatalf("idet summary %q: %v", out[i:], err)
	}
	return tff + bff, prog
}

// TestProxyDeinterlaces: interlaced CCTV-style input comes out progressive
// (judged by FFmpeg's idet on the pictures, not by flags).
func TestProxyDeinterlaces(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		// undo turns the proxy's pictures back so the source's rows are
		// rows again (idet looks for combing between rows).
		undo string
	}{
		{"interlaced.mp4", ""},
		{"interlaced_rotated.mp4", "transpose=clock,"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := media(t, tc.name)
			if il, _ := idet(t, src, ""); il < 40 {
				t.Fatalf("fixture not interlaced enough: %d interlaced frames", il)
			}
			out := filepath.Join(t.TempDir(), "proxy.mp4")
			if _, err := transcode.Proxy(context.Background(), src, out, transcode.ProxyOptions{Threads: 1, CRF: 18}, nil); err != nil {
				t.Fatal(err)
			}
			il, prog := idet(t, out, tc.undo)
			if il > 10 || prog < 40 {
				t.Errorf("proxy: %d interlaced, %d progressive frames", il, prog)
			}
		})
	}
}

// grayFrame decodes the first frame of path with the ffmpeg CLI (which
// applies the display matrix itself) scaled to w×h as 8-bit luma.
func grayFrame(t *testing.T, path string, w, h int, autorotate bool) []byte {
	t.Helper()
	args := []string{"-v", "error"}
	if !autorotate {
		args = append(args, "-noautorotate")
	}
	args = append(args, "-i", path, "-frames:v", "1", "-vf", fmt.Sprintf("scale=%d:%d", w, h), "-f", "rawvideo", "-pix_fmt", "gray", "-")
	out, err := exec.Command("ffmpeg", args...).Output()
	if err != nil || len(out) != w*h {
		t.Fatalf("ffmpeg gray frame of %s: %v (%d bytes)", path, err, len(out))
	}
	return out
}

func meanAbsDiff(a, b []byte) float64 {
	var s float64
	for i := range a {
		s += math.Abs(float64(a[i]) - float64(b[i]))
	}
	return s / float64(len(a))
}

// TestProxyRotationMatchesFFmpeg checks the picture is turned the same way
// the ffmpeg CLI's autorotate turns it, not just that the size is swapped.
func TestProxyRotationMatchesFFmpeg(t *testing.T) {
	t.Parallel()
	src := media(t, "rotated.mp4")
	out := filepath.Join(t.TempDir(), "proxy.mp4")
	if _, err := transcode.Proxy(context.Background(), src, out, transcode.ProxyOptions{Threads: 1, CRF: 18}, nil); err != nil {
		t.Fatal(err)
	}
	ours := grayFrame(t, out, 240, 320, false)
	ref := grayFrame(t, src, 240, 320, true)
	// The same pixels with the wrong turn (180° off) must differ a lot, so
	// the comparison can fail.
	wrong := make([]byte, len(ref))
	for i := range ref {
		wrong[i] = ref[len(ref)-1-i]
	}
	same, diff := meanAbsDiff(ours, ref), meanAbsDiff(ours, wrong)
	t.Logf("diff to ffmpeg %.2f, to wrong turn %.2f", same, diff)
	if same > 6 || diff < 3*same {
		t.Errorf("mean abs diff to ffmpeg autorotate %.2f, to 180°-off picture %.2f", same, diff)
	}
}

func TestProxyErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   func(t *testing.T) string
		opts transcode.ProxyOptions
		want error
	}{
		{"truncated", func(t *testing.T) string { return media(t, "truncated.mp4") }, transcode.ProxyOptions{}, transcode.ErrCorruptMedia},
		{"garbage", func(t *testing.T) string { return media(t, "garbage.bin") }, transcode.ProxyOptions{}, transcode.ErrCorruptMedia},
		{"missing", func(t *testing.T) string { return filepath.Join(t.TempDir(), "x.mp4") }, transcode.ProxyOptions{}, fs.ErrNotExist},
		{"bad crf", func(t *testing.T) string { return media(t, "normal.mp4") }, transcode.ProxyOptions{CRF: 60}, transcode.ErrInvalidOptions},
		{"bad preset", func(t *testing.T) string { return media(t, "normal.mp4") }, transcode.ProxyOptions{Preset: "warp"}, transcode.ErrInvalidOptions},
		{"negative threads", func(t *testing.T) string { return media(t, "normal.mp4") }, transcode.ProxyOptions{Threads: -1}, transcode.ErrInvalidOptions},
	}
	t.Run("output is input", func(t *testing.T) {
		dir := t.TempDir()
		src := filepath.Join(dir, "original.mp4")
		b, err := os.ReadFile(media(t, "normal.mp4"))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(src, b, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := transcode.Proxy(context.Background(), src, filepath.Join(dir, ".", "original.mp4"), transcode.ProxyOptions{}, nil); !errors.Is(err, transcode.ErrInvalidOptions) {
			t.Fatalf("err %v, want ErrInvalidOptions", err)
		}
		if after, err := os.ReadFile(src); err != nil || !bytes.Equal(after, b) {
			t.Errorf("original changed (%v)", err)
		}
	})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			out := filepath.Join(dir, "out.mp4")
			res, err := transcode.Proxy(context.Background(), tc.in(t), out, tc.opts, nil)
			if !errors.Is(err, tc.want) || res != nil {
				t.Fatalf("res %v err %v, want %v", res, err, tc.want)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 0 {
				t.Errorf("failed proxy left files: %v", entries)
			}
		})
	}
}

// TestProxyTruncatedMdat: a file whose index is intact but whose media data
// is cut short still yields a proxy of what is there (evidence recorders
// lose power); the decoder error on the cut packet is not fatal.
func TestProxyTruncatedMdat(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	faststart := filepath.Join(dir, "fs.mp4")
	ffmpeg(t, "-i", media(t, "normal.mp4"), "-c", "copy", "-movflags", "+faststart", faststart)
	b, err := os.ReadFile(faststart)
	if err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(dir, "cut.mp4")
	if err := os.WriteFile(cut, b[:len(b)*2/3], 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.mp4")
	res, err := transcode.Proxy(context.Background(), cut, out, transcode.ProxyOptions{Threads: 1, Preset: "ultrafast"}, nil)
	if err != nil {
		t.Fatalf("proxy of cut file: %v", err)
	}
	if res.VideoFrames == 0 || res.VideoFrames >= 75 {
		t.Errorf("%d frames from a file cut at 2/3 (75 in the whole)", res.VideoFrames)
	}
	if n := streamFrames(t, out); int64(n) != res.VideoFrames {
		t.Errorf("output has %d frames, result says %d", n, res.VideoFrames)
	}
}

// TestProxyFormatChange: a stream that changes picture size (and audio
// sample rate) midway gives one proxy of the first geometry, with the
// later pictures fitted inside it, and no frame lost.
func TestProxyFormatChange(t *testing.T) {
	t.Parallel()
	src := media(t, "sizechange.ts")
	out := filepath.Join(t.TempDir(), "proxy.mp4")
	res, err := transcode.Proxy(context.Background(), src, out, transcode.ProxyOptions{Threads: 1, Preset: "ultrafast"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Width != 320 || res.Height != 240 || res.VideoFrames != 50 {
		t.Errorf("result %+v", res)
	}
	if n := streamFrames(t, out); n != 50 {
		t.Errorf("%d frames in the proxy, want 50", n)
	}
	got := ffprobe(t, out)
	if len(got.Streams) != 2 || got.Streams[0].Width != 320 || got.Streams[0].Height != 240 {
		t.Errorf("streams %+v", got.Streams)
	}
	if d := got.duration(t); d < 1.9 || d > 2.1 {
		t.Errorf("duration %.3f, want 2", d)
	}
	// The second half (16:9 in a 4:3 frame) is letterboxed: the top rows
	// of its last frame are black padding, the middle is picture.
	last := grayFrameAt(t, out, 1.9, 320, 240)
	top, middle := meanOf(last[:320*20]), meanOf(last[320*110:320*130])
	if top > 20 || middle < 40 {
		t.Errorf("letterbox: top rows mean %.1f, middle %.1f", top, middle)
	}
}

func meanOf(b []byte) float64 {
	var s float64
	for _, v := range b {
		s += float64(v)
	}
	return s / float64(len(b))
}

// grayFrameAt decodes the frame at second ss of path as w×h luma.
func grayFrameAt(t *testing.T, path string, ss float64, w, h int) []byte {
	t.Helper()
	out, err := exec.Command("ffmpeg", "-v", "error", "-ss", strconv.FormatFloat(ss, 'f', 3, 64), "-i", path,
		"-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "gray", "-").Output()
	if err != nil || len(out) != w*h {
		t.Fatalf("ffmpeg frame at %.2fs of %s: %v (%d bytes)", ss, path, err, len(out))
	}
	return out
}

func TestProxyCancel(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	out := filepath.Join(dir, "out.mp4")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	res, err := transcode.Proxy(ctx, media(t, "normal.mp4"), out, transcode.ProxyOptions{Threads: 1, Preset: "ultrafast"},
		func(p transcode.Progress) {
			if p.Percent > 20 {
				cancel()
			}
		})
	if !errors.Is(err, context.Canceled) || res != nil {
		t.Fatalf("res %v err %v, want context.Canceled", res, err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("cancelled proxy left files: %v", entries)
	}
}
