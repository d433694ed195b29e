package transcode

//#cgo pkg-config: libavutil
//#include <libavutil/frame.h>
import "C"

import (
	"context"
	"errors"
	"fmt"
	"math"
	"unsafe"

	"github.com/asticode/go-astiav"
)

// Waveform is the peak envelope of a file's audio, what the redaction
// editor draws in its mute lane instead of decoding the audio in the
// browser: for each bucket of 1/Rate seconds, the lowest and highest
// sample of the mono mix, scaled to -128..127.
type Waveform struct {
	// Rate is the number of buckets (min/max pairs) per second.
	Rate int `json:"rate"`
	// Duration is the audio's length in seconds (buckets × 1/Rate, the
	// last one partial).
	Duration float64 `json:"duration"`
	// Peaks is min0, max0, min1, max1, ... Bucket i covers media time
	// [i/Rate, (i+1)/Rate): buckets follow the frames' timestamps, so a
	// gap in the audio stays a silent stretch at the right time.
	Peaks []int8 `json:"peaks"`
}

// WaveformOptions tunes Peaks.
type WaveformOptions struct {
	// Rate is the buckets per second; 0 picks 100 (10 ms), lowered so a
	// long recording has at most MaxBuckets buckets.
	Rate int
	// MaxBuckets caps the envelope's size; 0 means 40000 (about 80 kB of
	// peaks, 6.7 minutes at 100 per second, a 30-minute item at 22).
	MaxBuckets int
}

// ErrNoAudio reports a file without an audio stream.
var ErrNoAudio = errors.New("no audio stream")

// Peaks decodes the audio of the file at path (in process, go-astiav),
// mixes it to mono float samples through libavfilter and returns its
// peak envelope. A file without audio returns ErrNoAudio.
func Peaks(ctx context.Context, path string, opts WaveformOptions) (*Waveform, error) {
	const op = "waveform"
	c := NewCloser()
	defer c.Close()
	in, err := OpenInput(ctx, c, path)
	if err != nil {
		return nil, err
	}
	if in.Audio == nil {
		return nil, mediaErr(op, path, ErrNoAudio, nil)
	}
	maxBuckets := opts.MaxBuckets
	if maxBuckets <= 0 {
		maxBuckets = 40000
	}
	rate := opts.Rate
	if rate <= 0 {
		rate = 100
		if d := in.Duration(); d > 0 && d*float64(rate) > float64(maxBuckets) {
			rate = max(1, int(float64(maxBuckets)/d))
		}
	}
	dec, err := NewDecoder(c, in, in.Audio, 1)
	if err != nil {
		return nil, err
	}
	var (
		graph   *FilterGraph
		sampleT float64 // seconds per sample after the filter
		lo, hi  []float32
	)
	bucket := func(i int) {
		for len(lo) <= i {
			lo, hi = append(lo, 0), append(hi, 0)
		}
	}
	consume := func(f *astiav.Frame) error {
		n := f.NbSamples()
		cf := (*C.AVFrame)(f.UnsafePointer())
		if n <= 0 || cf.data[0] == nil {
			return nil
		}
		samples := unsafe.Slice((*float32)(unsafe.Pointer(cf.data[0])), n)
		tb := graph.TimeBase()
		start := 0.0
		if pts := f.Pts(); pts != astiav.NoPtsValue {
			start = float64(pts) * float64(tb.Num()) / float64(tb.Den())
		}
		if start < 0 {
			start = 0
		}
		for i, s := range samples {
			b := int((start + float64(i)*sampleT) * float64(rate))
			if b >= maxBuckets*2 { // a bogus timestamp must not grow the envelope without bound
				break
			}
			bucket(b)
			lo[b], hi[b] = min(lo[b], s), max(hi[b], s)
		}
		return nil
	}
	err = DecodeStreams(c, in, []*Decoder{dec}, func(_ *Decoder, f *astiav.Frame) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		if graph == nil {
			var err error
			if graph, err = NewAudioFilter(c, AudioSourceOf(f, dec.TimeBase()), "aformat=sample_fmts=flt:channel_layouts=mono"); err != nil {
				return err
			}
			sampleT = 1 / float64(f.SampleRate())
		}
		return graph.Push(f, consume)
	})
	if err == nil && graph != nil {
		err = graph.Push(nil, consume)
	}
	if err != nil {
		return nil, mediaErr(op, path, nil, fmt.Errorf("decoding audio: %w", err))
	}
	w := &Waveform{Rate: rate, Duration: float64(len(lo)) / float64(rate), Peaks: make([]int8, 2*len(lo))}
	for i := range lo {
		w.Peaks[2*i], w.Peaks[2*i+1] = toInt8(lo[i]), toInt8(hi[i])
	}
	return w, nil
}

func toInt8(v float32) int8 {
	return int8(max(-128, min(127, math.Round(float64(v)*127))))
}
