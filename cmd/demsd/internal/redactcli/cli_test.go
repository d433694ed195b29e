package redactcli

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/asticode/go-astiav"

	"github.com/opendems/opendems/redact"
)

func TestMain(m *testing.M) {
	astiav.SetLogLevel(astiav.LogLevelError)
	os.Exit(m.Run())
}

func makeClip(t *testing.T, path string) {
	t.Helper()
	ff, err := exec.LookPath("ffmpeg")
	if err != nil {
		if os.Getenv("OPENDEMS_TEST_REQUIRE_SERVICES") == "1" {
			t.Fatal("ffmpeg CLI (test reference) not found")
		}
		t.Skip("ffmpeg CLI (test reference) not found")
	}
	face, _ := filepath.Abs("../../../../redact/testdata/face.jpg")
	out, err := exec.Command(ff, "-nostdin", "-v", "error", "-y",
		"-f", "lavfi", "-i", "testsrc2=size=320x240:rate=10:duration=2",
		"-loop", "1", "-framerate", "10", "-i", face,
		"-f", "lavfi", "-i", "sine=duration=2",
		"-filter_complex", "[1]scale=96:120[f];[0][f]overlay=x='40+30*t':y=60:shortest=1[v]",
		"-map", "[v]", "-map", "2", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-t", "2", path).CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, out)
	}
}

func TestDetectThenRedact(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.mp4")
	makeClip(t, in)

	var proposal, stderr bytes.Buffer
	if err := DetectCommand(context.Background(), &proposal, &stderr, in, redact.DetectOptions{Stride: 1}); err != nil {
		t.Fatal(err)
	}
	spec, err := redact.Parse(proposal.Bytes())
	if err != nil {
		t.Fatalf("proposal is not a valid spec: %v\n%s", err, proposal.String())
	}
	if len(spec.Regions) != 1 || spec.Regions[0].Origin != redact.OriginAuto {
		t.Fatalf("want one automatic face region:\n%s", proposal.String())
	}
	if !strings.Contains(stderr.String(), "1 faces tracked") {
		t.Errorf("summary: %q", stderr.String())
	}

	// A person adds a mute and renders.
	spec.Audio = []redact.AudioRange{{Start: 0.5, End: 1, Action: redact.AudioMute, Reason: "name spoken"}}
	js, _ := spec.Marshal()
	specPath := filepath.Join(dir, "spec.json")
	os.WriteFile(specPath, js, 0o644)
	out := filepath.Join(dir, "out.mp4")
	var stdout bytes.Buffer
	if err := RedactCommand(context.Background(), &stdout, &stderr, specPath, in, out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"face-1", "audio-1", "source sha256 ", "output sha256 ", "out.mp4.redaction.json"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, stdout.String())
		}
	}
	jp, cp := redact.ReportPaths(out)
	for _, p := range []string{out, jp, cp} {
		if st, err := os.Stat(p); err != nil || st.Size() == 0 {
			t.Errorf("%s missing or empty: %v", p, err)
		}
	}
}

func TestRedactCommandErrors(t *testing.T) {
	dir := t.TempDir()
	var o, e bytes.Buffer
	if err := RedactCommand(context.Background(), &o, &e, filepath.Join(dir, "nope.json"), "in", "out"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing spec: %v", err)
	}
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"version": 9}`), 0o644)
	err := RedactCommand(context.Background(), &o, &e, bad, "in", "out")
	if !errors.Is(err, redact.ErrInvalidSpec) || !strings.Contains(err.Error(), "bad.json") || !strings.Contains(err.Error(), "version: unsupported version 9") {
		t.Errorf("bad spec: %v", err)
	}
}
