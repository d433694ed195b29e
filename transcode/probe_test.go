package transcode_test

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"math"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/opendems/opendems/transcode"
)

// ffprobeResult is the part of `ffprobe -print_format json` the tests use as
// an independent reference.
type ffprobeResult struct {
	Streams []struct {
		CodecName string `json:"codec_name"`
		CodecType string `json:"codec_type"`
		Width     int    `json:"width"`
		Height    int    `json:"height"`
		PixFmt    string `json:"pix_fmt"`
		SampleRt  string `json:"sample_rate"`
		Channels  int    `json:"channels"`
	} `json:"streams"`
	Format struct {
		Duration string `json:"duration"`
	} `json:"format"`
}

func ffprobe(t *testing.T, path string) ffprobeResult {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-print_format", "json", "-show_streams", "-show_format", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	var r ffprobeResult
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("ffprobe json: %v", err)
	}
	return r
}

func (r ffprobeResult) duration(t *testing.T) float64 {
	t.Helper()
	d, err := strconv.ParseFloat(r.Format.Duration, 64)
	if err != nil {
		t.Fatalf("ffprobe duration %q: %v", r.Format.Duration, err)
	}
	return d
}

func TestProbeMatchesFFprobe(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"normal.mp4", "odd.mkv", "rotated.mp4", "vfr.mp4", "noaudio.mp4", "audioonly.wav", "big.avi", "tagged.mov"} {
		t.Run(name, func(t *testing.T) {
			path := media(t, name)
			got, err := transcode.Probe(context.Background(), path)
			if err != nil {
				t.Fatal(err)
			}
			want := ffprobe(t, path)
			if d := want.duration(t); math.Abs(got.Duration-d) > 0.05 {
				t.Errorf("duration %.3f, ffprobe %.3f", got.Duration, d)
			}
			if len(got.Streams) != len(want.Streams) {
				t.Fatalf("%d streams, ffprobe %d", len(got.Streams), len(want.Streams))
			}
			for i, ws := range want.Streams {
				gs := got.Streams[i]
				if gs.Kind != ws.CodecType || gs.Codec != ws.CodecName {
					t.Errorf("stream %d: %s/%s, ffprobe %s/%s", i, gs.Kind, gs.Codec, ws.CodecType, ws.CodecName)
				}
				if gs.Width != ws.Width || gs.Height != ws.Height || gs.PixelFormat != ws.PixFmt {
					t.Errorf("stream %d: %dx%d %s, ffprobe %dx%d %s", i, gs.Width, gs.Height, gs.PixelFormat, ws.Width, ws.Height, ws.PixFmt)
				}
				if ws.CodecType == "audio" && (strconv.Itoa(gs.SampleRate) != ws.SampleRt || gs.Channels != ws.Channels) {
					t.Errorf("stream %d: %d Hz %d ch, ffprobe %s Hz %d ch", i, gs.SampleRate, gs.Channels, ws.SampleRt, ws.Channels)
				}
			}
			if _, err := json.Marshal(got); err != nil {
				t.Errorf("result does not marshal: %v", err)
			}
		})
	}
}

func TestProbeDetails(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		check func(t *testing.T, r *transcode.ProbeResult)
	}{
		{"normal.mp4", func(t *testing.T, r *transcode.ProbeResult) {
			if !r.HasVideo || !r.HasAudio || r.Rotation != 0 {
				t.Errorf("video %v audio %v rotation %d", r.HasVideo, r.HasAudio, r.Rotation)
			}
			if r.Streams[0].FrameRate != 25 {
				t.Errorf("frame rate %v", r.Streams[0].FrameRate)
			}
			if r.CreationTime == nil || r.CreationTime.Format("2006-01-02T15:04:05Z07:00") != "2024-05-01T12:34:56Z" {
				t.Errorf("creation time %v", r.CreationTime)
			}
			if r.Location == nil || r.Location.Latitude != 51.5074 || r.Location.Longitude != -0.1278 {
				t.Errorf("location %+v", r.Location)
			}
		}},
		{"tagged.mov", func(t *testing.T, r *transcode.ProbeResult) {
			if r.Location == nil || r.Location.Latitude != 37.3318 || r.Location.Longitude != -122.0312 ||
				r.Location.Altitude == nil || *r.Location.Altitude != 12.345 || r.Location.Tag != "com.apple.quicktime.location.ISO6709" {
				t.Errorf("location %+v", r.Location)
			}
			if r.Device.Make != "Apple" || r.Device.Model != "iPhone 15" || r.Device.Software != "17.1" {
				t.Errorf("device %+v", r.Device)
			}
			if r.Device.Handler == "" || r.Device.Encoder == "" {
				t.Errorf("handler/encoder missing: %+v", r.Device)
			}
			// 08:09:10+0100 is 07:09:10 UTC.
			if r.CreationTime == nil || r.CreationTime.Format("15:04:05") != "07:09:10" {
				t.Errorf("creation time %v", r.CreationTime)
			}
		}},
		{"rotated.mp4", func(t *testing.T, r *transcode.ProbeResult) {
			// ffmpeg 5.1 writes rotate=90 as a display matrix that ffprobe
			// reports as rotation=90 (counter-clockwise); turning it upright
			// takes 270° clockwise, which is what the CLI's autorotate does.
			if r.Rotation != 270 || r.Streams[0].Rotation != 270 {
				t.Errorf("rotation %d / %d, want 270", r.Rotation, r.Streams[0].Rotation)
			}
		}},
		{"audioonly.wav", func(t *testing.T, r *transcode.ProbeResult) {
			if r.HasVideo || !r.HasAudio || r.Streams[0].SampleRate != 22050 || r.Streams[0].Channels != 2 {
				t.Errorf("%+v", r)
			}
		}},
		{"noaudio.mp4", func(t *testing.T, r *transcode.ProbeResult) {
			if !r.HasVideo || r.HasAudio {
				t.Errorf("video %v audio %v", r.HasVideo, r.HasAudio)
			}
		}},
		{"odd.mkv", func(t *testing.T, r *transcode.ProbeResult) {
			if r.Streams[0].Width != 321 || r.Streams[0].Height != 239 || r.Streams[0].FrameRate != 30 {
				t.Errorf("%+v", r.Streams[0])
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := transcode.Probe(context.Background(), media(t, tc.name))
			if err != nil {
				t.Fatal(err)
			}
			if r.Size <= 0 || r.Format == "" {
				t.Errorf("size %d format %q", r.Size, r.Format)
			}
			tc.check(t, r)
		})
	}
}

func TestProbeErrors(t *testing.T) {
	t.Parallel()
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name string
		ctx  context.Context
		path func(t *testing.T) string
		want error
	}{
		{"truncated", context.Background(), func(t *testing.T) string { return media(t, "truncated.mp4") }, transcode.ErrCorruptMedia},
		{"garbage", context.Background(), func(t *testing.T) string { return media(t, "garbage.bin") }, transcode.ErrCorruptMedia},
		{"missing", context.Background(), func(t *testing.T) string { return filepath.Join(t.TempDir(), "nope.mp4") }, fs.ErrNotExist},
		{"directory", context.Background(), func(t *testing.T) string { return t.TempDir() }, transcode.ErrInvalidOptions},
		{"canceled", canceled, func(t *testing.T) string { return media(t, "normal.mp4") }, context.Canceled},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := transcode.Probe(tc.ctx, tc.path(t))
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if r != nil {
				t.Errorf("result %+v with error", r)
			}
			var me *transcode.MediaError
			if !errors.As(err, &me) || me.Op == "" {
				t.Errorf("not a MediaError with an operation: %#v", err)
			}
		})
	}
}
