package transcode_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/opendems/opendems/transcode"
)

const chromiumPath = "/usr/bin/chromium"

// playback is what the page reports about a <video> after loading it and
// seeking into its middle.
type playback struct {
	Error    int     `json:"error"` // MediaError code, 0 = none
	Width    int     `json:"width"`
	Height   int     `json:"height"`
	Duration float64 `json:"duration"`
	Seeked   float64 `json:"seeked"` // currentTime after the seek
	Decoded  int     `json:"decoded"`
}

// playScript loads the src into a fresh <video>, waits for data or an
// error, seeks to the middle and reports. It resolves on the browser's own
// events; the chromedp context bounds it.
const playScript = `((SRC) => new Promise((resolve) => {
  const v = document.createElement('video');
  v.muted = true; v.preload = 'auto';
  const report = () => resolve({
    error: v.error ? v.error.code : 0, width: v.videoWidth, height: v.videoHeight,
    duration: v.duration || 0, seeked: v.currentTime,
    decoded: v.getVideoPlaybackQuality ? v.getVideoPlaybackQuality().totalVideoFrames : 0});
  v.addEventListener('error', report);
  v.addEventListener('loadeddata', () => {
    v.addEventListener('seeked', report, {once: true});
    v.currentTime = v.duration / 2;
  }, {once: true});
  v.src = SRC;
  document.body.appendChild(v);
}))`

// TestProxyPlaysInChromium serves proxies over HTTP (with Range support,
// as the API does) to headless Chromium and checks it decodes and seeks
// them: the real meaning of "playable in browsers".
func TestProxyPlaysInChromium(t *testing.T) {
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("OPENDEMS_TEST_REQUIRE_SERVICES") == "1" {
			t.Fatalf("chromium not found at %s", chromiumPath)
		}
		t.Skip("chromium not installed")
	}
	dir := t.TempDir()
	// A browser-ready source (1 s GOP, AAC-LC): its proxy is a remux,
	// which must play and seek as well as an encode.
	ready := filepath.Join(t.TempDir(), "ready.mp4")
	ffmpeg(t, "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25:duration=3", "-f", "lavfi", "-i", "sine=duration=3",
		"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", "25", "-c:a", "aac", "-shortest", ready)
	cases := []struct {
		in, out      string
		wantW, wantH int
	}{
		{ready, "remuxed.mp4", 640, 360},
		{"normal.mp4", "normal.mp4", 640, 360},
		{"rotated.mp4", "rotated.mp4", 240, 320},
		{"vfr.mp4", "vfr.mp4", 320, 240},
		{"audioonly.wav", "audio.m4a", 0, 0},
	}
	for _, tc := range cases {
		in := tc.in
		if !filepath.IsAbs(in) {
			in = media(t, in)
		}
		res, err := transcode.Proxy(context.Background(), in, filepath.Join(dir, tc.out),
			transcode.ProxyOptions{Threads: 1, Preset: "ultrafast"}, nil)
		if err != nil {
			t.Fatalf("proxy %s: %v", tc.in, err)
		}
		if remuxed := res.Method == transcode.ProxyRemuxed; remuxed != (in == ready) {
			t.Fatalf("proxy %s made by %s (%s)", tc.in, res.Method, res.NotRemuxed)
		}
	}
	// Control: Chromium cannot show the MPEG-4 part 2 video of this original
	// (it plays only its Opus audio, videoWidth stays 0), so
	// this test can tell a playable file from an unplayable one.
	raw, err := os.ReadFile(media(t, "odd.mkv"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "control.mkv"), raw, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "index.html"), []byte("<!doctype html><body></body>"), 0o644); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.FileServer(http.Dir(dir)))
	defer srv.Close()

	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("mute-audio", true),
		chromedp.UserDataDir(t.TempDir()),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelA()
	ctx, cancelB := chromedp.NewContext(actx)
	defer cancelB()
	// A bound for the whole browser session, so a hang fails the test
	// instead of the package timeout (not a performance assertion).
	ctx, cancelC := context.WithTimeout(ctx, 3*time.Minute)
	defer cancelC()
	if _, err := chromedp.Run(ctx, chromedp.Navigate(srv.URL+"/index.html")); err != nil {
		t.Fatalf("chromium: %v", err)
	}
	control, err := chromedp.Run(ctx, chromedp.Evaluate[playback](playScript+"('/control.mkv')", chromedp.EvalAwaitPromise))
	if err != nil || (control.Error == 0 && control.Width != 0) {
		t.Fatalf("control: chromium showed MPEG-4 part 2 video (%+v, %v); the check cannot fail", control, err)
	}
	for _, tc := range cases {
		t.Run(tc.out, func(t *testing.T) {
			script := playScript + "('/" + tc.out + "')"
			p, err := chromedp.Run(ctx, chromedp.Evaluate[playback](script, chromedp.EvalAwaitPromise))
			if err != nil {
				t.Fatalf("evaluate: %v", err)
			}
			if p.Error != 0 {
				t.Fatalf("chromium MediaError %d for %s", p.Error, tc.out)
			}
			if p.Width != tc.wantW || p.Height != tc.wantH {
				t.Errorf("chromium sees %dx%d, want %dx%d", p.Width, p.Height, tc.wantW, tc.wantH)
			}
			if p.Duration < 1.5 || p.Seeked < p.Duration/2-0.1 {
				t.Errorf("duration %.2f, seeked to %.2f", p.Duration, p.Seeked)
			}
			t.Logf("%+v", p)
		})
	}
}
