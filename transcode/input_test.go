package transcode_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/asticode/go-astiav"
	"github.com/opendems/opendems/transcode"
)

// TestOpenInputInterruptedByContext proves cancellation reaches FFmpeg's own
// I/O loop through the interrupter, not only our checks between calls.
// FFmpeg reads an MPEG-TS from a FIFO: the real start of a stream (so the
// format is found), then endless null packets, which never complete the
// stream parameters, so without the interrupter avformat_find_stream_info
// would read on to its 5 MB probe limit. The context is cancelled once
// FFmpeg is reading; with the interrupter it stops within a read buffer or
// two (the pipe holds 64 KiB more).
func TestOpenInputInterruptedByContext(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(media(t, "stream.ts"))
	if err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(t.TempDir(), "pipe.ts")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	null := make([]byte, 0, 188*64)
	for range 64 {
		pkt := make([]byte, 188)
		copy(pkt, []byte{0x47, 0x1f, 0xff, 0x10})
		for i := 4; i < 188; i++ {
			pkt[i] = 0xff
		}
		null = append(null, pkt...)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	afterCancel := make(chan int64, 1)
	go func() {
		var n int64
		defer func() { afterCancel <- n }()
		// Opening for writing blocks until FFmpeg has opened the FIFO for
		// reading, i.e. until OpenInput is past its own ctx check.
		w, err := os.OpenFile(fifo, os.O_WRONLY, 0)
		if err != nil {
			cancel()
			return
		}
		defer w.Close()
		if _, err := w.Write(data[:188*8]); err != nil {
			cancel()
			return
		}
		cancel()
		// Write until FFmpeg closes its end (EPIPE), or 64 MB as a bound
		// so a broken interrupter fails the test instead of hanging it.
		for n < 64<<20 {
			m, err := w.Write(null)
			n += int64(m)
			if err != nil {
				return
			}
		}
	}()
	r, err := transcode.Probe(ctx, fifo)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Probe = %v, %v; want context.Canceled", r, err)
	}
	if n := <-afterCancel; n > 1<<20 {
		t.Errorf("FFmpeg read %d bytes after cancellation; the interrupter did not stop it", n)
	} else {
		t.Logf("%d bytes accepted by the pipe after cancellation", n)
	}
}

func TestOpenInputAndDecodeStreams(t *testing.T) {
	t.Parallel()
	c := transcode.NewCloser()
	defer c.Close()
	in, err := transcode.OpenInput(context.Background(), c, media(t, "normal.mp4"))
	if err != nil {
		t.Fatal(err)
	}
	if in.Video == nil || in.Audio == nil || in.Duration() != 3 {
		t.Fatalf("input %+v", in)
	}
	vd, err := transcode.NewDecoder(c, in, in.Video, 1)
	if err != nil {
		t.Fatal(err)
	}
	ad, err := transcode.NewDecoder(c, in, in.Audio, 1)
	if err != nil {
		t.Fatal(err)
	}
	var frames, samples int
	lastPts := map[*transcode.Decoder]int64{vd: -1 << 62, ad: -1 << 62}
	var g *transcode.FilterGraph
	var filtered int
	err = transcode.DecodeStreams(c, in, []*transcode.Decoder{vd, ad}, func(d *transcode.Decoder, f *astiav.Frame) error {
		if f.Pts() <= lastPts[d] {
			t.Errorf("pts %d after %d", f.Pts(), lastPts[d])
		}
		lastPts[d] = f.Pts()
		if d == ad {
			samples += f.NbSamples()
			return nil
		}
		frames++
		if g == nil {
			var err error
			if g, err = transcode.NewVideoFilter(c, transcode.VideoSourceOf(f, d.TimeBase()), "scale=64:36,format=gray", 1); err != nil {
				return err
			}
		}
		return g.Push(f, func(o *astiav.Frame) error {
			if o.Width() != 64 || o.Height() != 36 || o.PixelFormat() != astiav.PixelFormatGray8 {
				t.Errorf("filtered frame %dx%d %s", o.Width(), o.Height(), o.PixelFormat())
			}
			filtered++
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Push(nil, func(*astiav.Frame) error { filtered++; return nil }); err != nil {
		t.Fatal(err)
	}
	if frames != 75 || filtered != 75 {
		t.Errorf("%d frames decoded, %d filtered, want 75", frames, filtered)
	}
	// 3 s at 44.1 kHz, give or take the AAC priming/padding.
	if samples < 44100*3-2048 || samples > 44100*3+2048 {
		t.Errorf("%d audio samples", samples)
	}
}

func TestFilterGraphBadSpec(t *testing.T) {
	t.Parallel()
	c := transcode.NewCloser()
	defer c.Close()
	src := transcode.VideoSource{Width: 64, Height: 48, PixelFormat: astiav.PixelFormatYuv420P, TimeBase: astiav.NewRational(1, 25)}
	if _, err := transcode.NewVideoFilter(c, src, "nosuchfilter=1", 1); !errors.Is(err, transcode.ErrInvalidOptions) {
		t.Errorf("bad spec: %v", err)
	}
	if _, err := transcode.NewVideoFilter(c, transcode.VideoSource{}, "", 1); !errors.Is(err, transcode.ErrInvalidOptions) {
		t.Errorf("zero source: %v", err)
	}
	if _, err := transcode.CreateMP4(context.Background(), c, filepath.Join(t.TempDir(), "x.mp4"),
		&transcode.VideoEncoderOptions{Width: 63, Height: 48, TimeBase: astiav.NewRational(1, 25)}, nil); !errors.Is(err, transcode.ErrInvalidOptions) {
		t.Errorf("odd width: %v", err)
	}
	if _, err := transcode.CreateMP4(context.Background(), c, filepath.Join(t.TempDir(), "x.mp4"), nil,
		&transcode.AudioEncoderOptions{SampleRate: 44000, Channels: 2}); !errors.Is(err, transcode.ErrInvalidOptions) {
		t.Errorf("bad sample rate: %v", err)
	}
}
