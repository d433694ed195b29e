package redact

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Test media is made with the ffmpeg CLI, an independent reference: a
// lavfi test pattern with the real face photograph from testdata/face.jpg
// moving along a known path, plus a 440 Hz tone. The same CLI decodes
// outputs for comparison, so the tests do not check our code with itself.

func needFFmpeg(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("ffmpeg")
	if err != nil {
		if os.Getenv("OPENDEMS_TEST_REQUIRE_SERVICES") == "1" {
			t.Fatal("ffmpeg CLI (test reference) not found")
		}
		t.Skip("ffmpeg CLI (test reference) not found")
	}
	return p
}

func runFFmpeg(t testing.TB, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(needFFmpeg(t), append([]string{"-nostdin", "-v", "error", "-y"}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ffmpeg %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return out
}

// clipSpec describes a synthetic clip: a face of faceW×faceH moving from
// (x0, y0) at vx, vy pixels per second over a width×height test pattern.
type clipSpec struct {
	width, height, fps int
	seconds            float64
	faceW, faceH       int
	x0, y0, vx, vy     float64
	audio              bool
	codec              []string // video encoder args
	noise              int      // temporal noise strength over the whole picture (0: none)
}

// noiseFilter adds camera-like temporal noise (texture everywhere makes
// face detection work harder than on flat test-pattern areas).
func noiseFilter(strength int) string {
	if strength == 0 {
		return ""
	}
	return fmt.Sprintf(",noise=alls=%d:allf=t", strength)
}

func (c clipSpec) faceAt(t float64) Box {
	return Box{c.x0 + c.vx*t, c.y0 + c.vy*t, float64(c.faceW), float64(c.faceH)}
}

func makeClip(t testing.TB, path string, c clipSpec) {
	t.Helper()
	if c.codec == nil {
		c.codec = []string{"-c:v", "libx264", "-preset", "ultrafast", "-crf", "16", "-pix_fmt", "yuv420p"}
	}
	args := []string{
		"-f", "lavfi", "-i", fmt.Sprintf("testsrc2=size=%dx%d:rate=%d:duration=%g", c.width, c.height, c.fps, c.seconds),
		"-loop", "1", "-framerate", strconv.Itoa(c.fps), "-i", filepath.Join("testdata", "face.jpg"),
	}
	if c.audio {
		args = append(args, "-f", "lavfi", "-i", fmt.Sprintf("sine=frequency=440:sample_rate=48000:duration=%g", c.seconds))
	}
	args = append(args,
		"-filter_complex", fmt.Sprintf("[1]scale=%d:%d,format=yuv420p[f];[0][f]overlay=x='%g+%g*t':y='%g+%g*t':shortest=1:eval=frame%s[v]",
			c.faceW, c.faceH, c.x0, c.vx, c.y0, c.vy, noiseFilter(c.noise)),
		"-map", "[v]")
	if c.audio {
		args = append(args, "-map", "2", "-c:a", "aac", "-b:a", "128k")
	}
	args = append(args, c.codec...)
	args = append(args, "-t", fmt.Sprint(c.seconds), path)
	runFFmpeg(t, args...)
}

// grayFrames decodes every video frame of path as 8-bit luma.
func grayFrames(t testing.TB, path string, w, h int) [][]byte {
	t.Helper()
	raw := runFFmpeg(t, "-i", path, "-map", "0:v:0", "-fps_mode", "passthrough", "-f", "rawvideo", "-pix_fmt", "gray", "-")
	n := w * h
	if len(raw)%n != 0 {
		t.Fatalf("decoded %d bytes, not a multiple of %dx%d", len(raw), w, h)
	}
	var frames [][]byte
	for i := 0; i+n <= len(raw); i += n {
		frames = append(frames, raw[i:i+n])
	}
	return frames
}

// audioSamples decodes path's audio as mono float32 at 48 kHz.
func audioSamples(t testing.TB, path string) []float32 {
	t.Helper()
	raw := runFFmpeg(t, "-i", path, "-map", "0:a:0", "-ac", "1", "-ar", "48000", "-f", "f32le", "-")
	s := make([]float32, len(raw)/4)
	for i := range s {
		s[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
	}
	return s
}

// psnr of two 8-bit images.
func psnr(a, b []byte) float64 {
	var se float64
	for i := range a {
		d := float64(a[i]) - float64(b[i])
		se += d * d
	}
	if se == 0 {
		return 99
	}
	return 10 * math.Log10(255*255/(se/float64(len(a))))
}

// rectStats returns, over rectangle r of a w-wide gray image, the mean
// absolute difference between a and b and the mean absolute horizontal
// gradient of each (texture: a face has plenty, a blurred one almost none).
func rectStats(a, b []byte, w int, r Box) (mad, gradA, gradB float64) {
	x0, y0, x1, y1 := int(r.X), int(r.Y), int(r.X+r.W), int(r.Y+r.H)
	var n float64
	for y := y0; y < y1; y++ {
		for x := x0; x < x1-1; x++ {
			i := y*w + x
			mad += math.Abs(float64(a[i]) - float64(b[i]))
			gradA += math.Abs(float64(a[i+1]) - float64(a[i]))
			gradB += math.Abs(float64(b[i+1]) - float64(b[i]))
			n++
		}
	}
	return mad / n, gradA / n, gradB / n
}

// inset shrinks a box by f of its size on every side.
func inset(b Box, f float64) Box {
	return Box{b.X + b.W*f, b.Y + b.H*f, b.W * (1 - 2*f), b.H * (1 - 2*f)}
}

// goertzel returns the power of frequency f in samples at rate sr.
func goertzel(s []float32, f, sr float64) float64 {
	k := 2 * math.Cos(2*math.Pi*f/sr)
	var s1, s2 float64
	for _, v := range s {
		s0 := float64(v) + k*s1 - s2
		s2, s1 = s1, s0
	}
	return (s1*s1 + s2*s2 - k*s1*s2) / float64(len(s)*len(s))
}

func rms(s []float32) float64 {
	var e float64
	for _, v := range s {
		e += float64(v) * float64(v)
	}
	return math.Sqrt(e / float64(len(s)))
}
