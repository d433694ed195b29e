package transcode

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/asticode/go-astiav"
)

// ProxyOptions configures Proxy. The zero value gives a 720p, x264
// "veryfast" CRF 23, 128 kb/s AAC proxy using every core.
type ProxyOptions struct {
	// Preset is the x264 preset (ultrafast … veryslow); "veryfast" when empty.
	Preset string `json:"preset,omitempty"`
	// CRF is the x264 constant rate factor (1..51, lower is better); 23 when 0.
	CRF int `json:"crf,omitempty"`
	// MaxShortSide bounds the shorter output side (720 when 0): a 720p proxy
	// for landscape and portrait video alike.
	MaxShortSide int `json:"max_short_side,omitempty"`
	// MaxLongSide bounds the longer output side (1280 when 0).
	MaxLongSide int `json:"max_long_side,omitempty"`
	// Threads for the decoder, filters and encoder (0 = FFmpeg/x264 decide
	// from the CPU count). Workers sharing a machine should set it.
	Threads int `json:"threads,omitempty"`
	// AudioBitRate in bits per second (128000 when 0).
	AudioBitRate int64 `json:"audio_bit_rate,omitempty"`

	// NoRemux always encodes, even a source that passes the remux rule.
	NoRemux bool `json:"no_remux,omitempty"`
	// RemuxMaxBitRate is the highest overall bit rate (b/s) of a source
	// that is remuxed rather than encoded (8 Mb/s when 0).
	RemuxMaxBitRate int64 `json:"remux_max_bit_rate,omitempty"`
	// MaxKeyframeInterval is the longest keyframe interval (seconds) of a
	// source that is remuxed: the editor scrubs by keyframe (2 s when 0).
	MaxKeyframeInterval float64 `json:"max_keyframe_interval,omitempty"`
}

// Validate reports options that are out of range.
func (o ProxyOptions) Validate() error {
	switch {
	case o.CRF < 0 || o.CRF > 51:
		return fmt.Errorf("crf %d out of 0..51: %w", o.CRF, ErrInvalidOptions)
	case o.MaxShortSide < 0 || o.MaxLongSide < 0:
		return fmt.Errorf("negative size bound: %w", ErrInvalidOptions)
	case o.MaxShortSide == 1 || o.MaxLongSide == 1:
		return fmt.Errorf("size bound must be at least 2: %w", ErrInvalidOptions)
	case o.Threads < 0:
		return fmt.Errorf("threads %d < 0: %w", o.Threads, ErrInvalidOptions)
	case o.AudioBitRate < 0:
		return fmt.Errorf("audio bit rate %d < 0: %w", o.AudioBitRate, ErrInvalidOptions)
	case o.RemuxMaxBitRate < 0 || o.MaxKeyframeInterval < 0:
		return fmt.Errorf("negative remux limit: %w", ErrInvalidOptions)
	}
	switch o.Preset {
	case "", "ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow", "placebo":
	default:
		return fmt.Errorf("unknown x264 preset %q: %w", o.Preset, ErrInvalidOptions)
	}
	return nil
}

func (o ProxyOptions) withDefaults() ProxyOptions {
	if o.Preset == "" {
		o.Preset = "veryfast"
	}
	if o.CRF == 0 {
		o.CRF = 23
	}
	if o.MaxShortSide == 0 {
		o.MaxShortSide = 720
	}
	if o.MaxLongSide == 0 {
		o.MaxLongSide = 1280
	}
	if o.AudioBitRate == 0 {
		o.AudioBitRate = 128000
	}
	if o.RemuxMaxBitRate == 0 {
		o.RemuxMaxBitRate = defaultRemuxMaxBitRate
	}
	if o.MaxKeyframeInterval == 0 {
		o.MaxKeyframeInterval = defaultMaxKeyframeInterval
	}
	return o
}

// Progress is reported while a proxy is made, computed from the decoded
// timestamps against the container duration.
type Progress struct {
	// Percent done, 0..100 (0 throughout when the duration is unknown).
	Percent float64 `json:"percent"`
	// Position is the media time decoded so far.
	Position time.Duration `json:"position"`
	// Duration is the input duration (0 when unknown).
	Duration time.Duration `json:"duration"`
}

// ProxyResult describes the proxy that was written.
type ProxyResult struct {
	// Method is ProxyRemuxed (the source's packets copied) or ProxyEncoded.
	Method string `json:"method"`
	// NotRemuxed says which part of the remux rule an encoded source broke.
	NotRemuxed  string  `json:"not_remuxed,omitempty"`
	HasVideo    bool    `json:"has_video"`
	HasAudio    bool    `json:"has_audio"`
	Width       int     `json:"width,omitempty"`
	Height      int     `json:"height,omitempty"`
	Rotation    int     `json:"rotation,omitempty"` // degrees applied to the source
	VideoFrames int64   `json:"video_frames,omitempty"`
	Duration    float64 `json:"duration"` // seconds, of the source (declared or derived)
	// Completeness compares what decoded with what the source declares.
	Completeness Completeness `json:"completeness"`
}

// Completeness compares the length a recording decodes to with the length
// its container declares. A camera file cut short (card pulled, power lost,
// upload cut) with its index at the front declares the full length but
// holds only part of the media: such a recording is Partial.
type Completeness struct {
	// DeclaredDuration is the source's duration in seconds, as its
	// container declares it or as derived (see DurationSource).
	DeclaredDuration float64 `json:"declared_duration"`
	// DurationSource tells how DeclaredDuration was obtained.
	DurationSource string `json:"duration_source"`
	// DecodedDuration is the end of the last decoded frame or audio
	// sample, in seconds from the start of the file.
	DecodedDuration float64 `json:"decoded_duration"`
	// Partial is set when DecodedDuration falls short of the declared one
	// by more than PartialTolerance.
	Partial bool `json:"partial"`
}

// PartialTolerance is how much shorter than declared a recording may
// decode before it counts as partial: encoder delay, edit lists and a
// last frame's duration account for a few tens of milliseconds, never half
// a second.
func PartialTolerance(declared float64) float64 { return max(0.5, declared*0.01) }

// newCompleteness judges decoded against declared; an unknown declared
// length (0) can never show a recording is partial.
func newCompleteness(declared float64, source string, decoded float64) Completeness {
	c := Completeness{DeclaredDuration: declared, DurationSource: source, DecodedDuration: decoded}
	c.Partial = declared > 0 && declared-decoded > PartialTolerance(declared)
	return c
}

// Proxy makes a browser-playable MP4 of in at out. A source that passes
// the remux rule (see the package doc) is remuxed: its packets are copied
// into a faststart MP4, nothing is encoded. Any other is transcoded: H.264 (libx264,
// yuv420p, upright, at most 720p, even dimensions, square pixels, source
// timestamps kept so variable frame rate stays in sync) and AAC audio, with
// the index at the front. An input without video gives an AAC-only MP4
// (name it .m4a). progress, if non-nil, is called from this goroutine as
// decoding advances and once with 100% at the end.
//
// out is written through a temporary file in the same directory and renamed
// into place only on success, so a reader never sees a half-written proxy
// and a failed or cancelled job leaves nothing behind.
func Proxy(ctx context.Context, in, out string, opts ProxyOptions, progress func(Progress)) (*ProxyResult, error) {
	const op = "proxy"
	if err := opts.Validate(); err != nil {
		return nil, mediaErr(op, in, ErrInvalidOptions, err)
	}
	opts = opts.withDefaults()
	if sameFile(in, out) {
		// Renaming the proxy over its source would destroy an original.
		return nil, mediaErr(op, out, ErrInvalidOptions, errors.New("output is the input file"))
	}
	tmpPath, cleanup, err := tempOutput(out)
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			cleanup()
		}
	}()

	c := NewCloser()
	defer c.Close()
	input, err := OpenInput(ctx, c, in)
	if err != nil {
		return nil, withOp(op, in, err)
	}
	duration, source, err := MediaDuration(ctx, input)
	if err != nil {
		return nil, withOp(op, in, err)
	}
	res, oc, err := makeProxy(ctx, c, input, duration, source, tmpPath, opts, progress, nil, nil)
	if err != nil {
		return nil, err
	}
	defer oc.Close()
	if err := commitOutput(oc, tmpPath, out); err != nil {
		return nil, err
	}
	ok = true
	return res, nil
}

// tempOutput creates the temporary file out is written through and returns
// its path and a cleanup that removes it unless commitOutput renamed it.
func tempOutput(out string) (string, func(), error) {
	tmp, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".*.partial")
	if err != nil {
		return "", nil, mediaErr("proxy: create output", out, nil, err)
	}
	path := tmp.Name()
	_ = tmp.Close()
	return path, func() { _ = os.Remove(path) }, nil
}

// commitOutput closes the output's resources (flushing the file) and
// renames the temporary file into place.
func commitOutput(oc *Closer, tmpPath, out string) error {
	if err := oc.Close(); err != nil {
		return mediaErr("proxy: close output", out, nil, err)
	}
	if err := os.Rename(tmpPath, out); err != nil {
		return mediaErr("proxy: rename output", out, nil, err)
	}
	return nil
}

// proxy encodes in (opened on c, read from its start) into outPath, whose
// encoder and file are registered on oc so the caller can flush them
// before renaming. duration is the source's declared or derived length.
// tap, if non-nil, sees every decoded video frame (pts relative to the
// file start) before the proxy's filters do; it must not keep the frame.
func proxy(ctx context.Context, c, oc *Closer, in *Input, duration float64, durationSource, outPath string, opts ProxyOptions, progress func(Progress), tap func(*astiav.Frame)) (*ProxyResult, error) {
	const op = "proxy"
	inPath := in.Path
	if in.Video == nil && in.Audio == nil {
		return nil, mediaErr(op, inPath, ErrNoMedia, nil)
	}
	var err error
	res := &ProxyResult{Duration: duration}
	var decoders []*Decoder
	var vd, ad *Decoder
	var vopts *VideoEncoderOptions
	var aopts *AudioEncoderOptions

	if in.Video != nil {
		cp := in.Video.CodecParameters()
		if cp.Width() <= 0 || cp.Height() <= 0 {
			return nil, mediaErr(op, inPath, ErrCorruptMedia, fmt.Errorf("video stream has no size (%dx%d)", cp.Width(), cp.Height()))
		}
		if vd, err = NewDecoder(c, in, in.Video, opts.Threads); err != nil {
			return nil, err
		}
		decoders = append(decoders, vd)
		res.HasVideo = true
		res.Rotation = StreamRotation(in.Video)
		sar := in.FormatContext.GuessSampleAspectRatio(in.Video, nil)
		res.Width, res.Height = ProxySize(cp.Width(), cp.Height(), sar, res.Rotation, opts.MaxShortSide, opts.MaxLongSide)
		vopts = &VideoEncoderOptions{
			Width: res.Width, Height: res.Height, TimeBase: vd.TimeBase(),
			FrameRate: in.FormatContext.GuessFrameRate(in.Video, nil),
			Preset:    opts.Preset, CRF: opts.CRF, Threads: opts.Threads,
			LastFrameDuration: true,
		}
	}
	if in.Audio != nil && in.Audio.CodecParameters().SampleRate() > 0 {
		if ad, err = NewDecoder(c, in, in.Audio, 1); err != nil {
			// A video with an audio codec we cannot decode still gets a
			// (silent) video proxy; an audio-only file cannot.
			if vd == nil {
				return nil, err
			}
			ad = nil
		} else {
			decoders = append(decoders, ad)
			channels := 2
			if in.Audio.CodecParameters().Channels() == 1 {
				channels = 1
			}
			aopts = &AudioEncoderOptions{
				SampleRate: AACSampleRate(in.Audio.CodecParameters().SampleRate()),
				Channels:   channels, BitRate: opts.AudioBitRate,
			}
			res.HasAudio = true
		}
	}
	if vd == nil && ad == nil {
		return nil, mediaErr(op, inPath, ErrNoMedia, errors.New("no decodable stream"))
	}

	w, err := CreateMP4(ctx, oc, outPath, vopts, aopts)
	if err != nil {
		return nil, err
	}

	// Shift every stream so the file starts at 0, as the ffmpeg CLI does:
	// MPEG-TS and camera files often start at an arbitrary clock value.
	start := in.FormatContext.StartTime()
	if start == astiav.NoPtsValue {
		start = 0
	}
	offsetOf := func(d *Decoder) int64 {
		return astiav.RescaleQ(start, astiav.NewRational(1, astiav.TimeBase), d.TimeBase())
	}
	total := time.Duration(res.Duration * float64(time.Second))
	lastPercent := -1.0
	var lastPos time.Duration
	report := func(d *Decoder, pts int64) {
		if progress == nil {
			return
		}
		pos := time.Duration(float64(pts) * d.TimeBase().Float64() * float64(time.Second))
		p := Progress{Position: pos, Duration: total}
		if total > 0 {
			p.Percent = min(100, max(0, 100*pos.Seconds()/total.Seconds()))
		}
		// Every 0.5 %, or every second of media when the duration is unknown.
		if (total > 0 && p.Percent-lastPercent >= 0.5) || (total == 0 && pos-lastPos >= time.Second) {
			lastPercent, lastPos = p.Percent, pos
			progress(p)
		}
	}

	var vf, af *FilterGraph
	var vOffset, aOffset int64
	if vd != nil {
		vOffset = offsetOf(vd)
	}
	if ad != nil {
		aOffset = offsetOf(ad)
	}
	// Deinterlace first, at the native size: CCTV recorders often store
	// interlaced video, which browsers show with combing. deint=interlaced
	// passes progressive frames through untouched (a reference, no copy).
	// yadif halves the time base; writeVideo rescales back (exactly).
	videoSpec := ""
	if vd != nil {
		videoSpec = "yadif=deint=interlaced,"
	}
	if r := RotationFilter(res.Rotation); r != "" {
		videoSpec += r + ","
	}
	videoSpec += fmt.Sprintf("scale=%d:%d:flags=bicubic,format=yuv420p,setsar=1", res.Width, res.Height)

	// The encoder was opened with the decoder's time base; filters such as
	// yadif change it.
	writeVideo := func(o *astiav.Frame) error {
		if tb := vf.TimeBase(); tb != vopts.TimeBase {
			o.SetPts(astiav.RescaleQ(o.Pts(), tb, vopts.TimeBase))
		}
		return w.WriteVideoFrame(o)
	}
	// The AAC encoder counts in samples (1/rate); aresample's output should
	// already be in that time base, but do not rely on it.
	writeAudio := func(o *astiav.Frame) error {
		if tb, want := af.TimeBase(), astiav.NewRational(1, aopts.SampleRate); tb != want {
			o.SetPts(astiav.RescaleQ(o.Pts(), tb, want))
		}
		return w.WriteAudioFrame(o)
	}
	// Streams can change picture size or audio format midway (a CCTV
	// recorder switching resolution, concatenated MPEG-TS). Each change
	// gets a new graph; the old one is drained (video) and freed at once
	// through its own Closer, so many changes do not pile up graphs.
	var vSrc VideoSource
	var aSrc AudioSource
	var decodedEnd float64
	var vfCloser, afCloser *Closer
	newSubCloser := func() *Closer {
		sc := NewCloser()
		c.AddWithError(sc.Close) // idempotent: a no-op if already closed
		return sc
	}
	consume := func(d *Decoder, f *astiav.Frame) error {
		if d == vd {
			f.SetPts(f.Pts() - vOffset)
			src := VideoSourceOf(f, d.TimeBase())
			if vf != nil && !sameVideoSource(src, vSrc) {
				if err := vf.Push(nil, writeVideo); err != nil {
					return err
				}
				_ = vfCloser.Close()
				vf = nil
				// Later geometries keep their own aspect inside the
				// output size chosen from the stream header.
				videoSpec = strings.Replace(videoSpec, fmt.Sprintf("scale=%d:%d:", res.Width, res.Height),
					fmt.Sprintf("scale=%d:%d:force_original_aspect_ratio=decrease:force_divisible_by=2:", res.Width, res.Height), 1)
				if !strings.Contains(videoSpec, ",pad=") {
					videoSpec += fmt.Sprintf(",pad=%d:%d:(ow-iw)/2:(oh-ih)/2", res.Width, res.Height)
				}
			}
			if vf == nil {
				var err error
				vfCloser = newSubCloser()
				if vf, err = NewVideoFilter(vfCloser, src, videoSpec, opts.Threads); err != nil {
					return err
				}
				vSrc = src
			}
			res.VideoFrames++
			decodedEnd = max(decodedEnd, float64(f.Pts()+d.frameStep)*d.TimeBase().Float64())
			report(d, f.Pts())
			if tap != nil {
				tap(f)
			}
			return vf.Push(f, writeVideo)
		}
		f.SetPts(f.Pts() - aOffset)
		src := AudioSourceOf(f, d.TimeBase())
		if af != nil && !sameAudioSource(src, aSrc) {
			// Not drained: a short AAC frame is only allowed at the very
			// end, so up to one frame (≤ 23 ms) is dropped at the switch.
			_ = afCloser.Close()
			af = nil
		}
		if af == nil {
			var err error
			afCloser = newSubCloser()
			if af, err = NewAudioResampler(afCloser, src, w.AudioTarget()); err != nil {
				return err
			}
			aSrc = src
		}
		if f.SampleRate() > 0 {
			end := float64(f.Pts())*d.TimeBase().Float64() + float64(f.NbSamples())/float64(f.SampleRate())
			decodedEnd = max(decodedEnd, end)
		}
		if vd == nil {
			report(d, f.Pts())
		}
		return af.Push(f, writeAudio)
	}
	// Decoding, filtering and encoding run one after another on this
	// goroutine, as in the ffmpeg CLI (the codecs and the scaler have
	// their own threads). Decoding ahead on a second goroutine
	// (DecodePipelined) was measured to cost 2-5 % more CPU than this on
	// two cores without buying wall time there (docs/transcode.md, issue
	// 15): both ways already keep the two cores busy.
	err = DecodeStreams(c, in, decoders, consume)
	if err != nil {
		return nil, withOp(op, inPath, err)
	}
	if vd != nil && res.VideoFrames == 0 {
		return nil, mediaErr(op, inPath, ErrCorruptMedia, errors.New("no decodable video frame"))
	}
	if vf != nil {
		if err := vf.Push(nil, writeVideo); err != nil {
			return nil, withOp(op, inPath, err)
		}
	}
	if af != nil {
		if err := af.Push(nil, writeAudio); err != nil {
			return nil, withOp(op, inPath, err)
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, mediaErr(op, inPath, nil, err)
	}
	if err := w.Finish(); err != nil {
		return nil, withOp(op, inPath, err)
	}
	res.Completeness = newCompleteness(duration, durationSource, decodedEnd)
	if progress != nil {
		progress(Progress{Percent: 100, Position: total, Duration: total})
	}
	return res, nil
}

// sameFile reports whether two paths name the same file (also through
// links); a missing out is never the same.
func sameFile(a, b string) bool {
	ai, err1 := os.Stat(a)
	bi, err2 := os.Stat(b)
	if err1 == nil && err2 == nil {
		return os.SameFile(ai, bi)
	}
	aa, err1 := filepath.Abs(a)
	ba, err2 := filepath.Abs(b)
	return err1 == nil && err2 == nil && aa == ba
}

func sameVideoSource(a, b VideoSource) bool {
	return a.Width == b.Width && a.Height == b.Height && a.PixelFormat == b.PixelFormat &&
		a.SampleAspectRatio == b.SampleAspectRatio
}

func sameAudioSource(a, b AudioSource) bool {
	return a.SampleRate == b.SampleRate && a.SampleFormat == b.SampleFormat &&
		a.ChannelLayout.Equal(b.ChannelLayout) && a.Channels == b.Channels
}

// pipelineDepth is how many decoded frames may wait between the decoding
// and the encoding goroutine: enough to smooth out x264's uneven per-frame
// cost, small enough that memory stays bounded (a few 1080p frames).
const pipelineDepth = 4

type decodedFrame struct {
	d *Decoder
	f *astiav.Frame
}

// errPipelineStopped tells the decoding goroutine that the consumer failed.
var errPipelineStopped = errors.New("pipeline stopped")

// DecodePipelined is DecodeStreams with demuxing and decoding on their own
// goroutine, so that scaling, encoding and muxing (consume, called on this
// goroutine) overlap with them. The ffmpeg CLI of FFmpeg 5.1 runs these
// stages one after another on its main thread; splitting them is what lets
// a pipeline use both cores of a small worker when its consumer waits.
// Frames cross as new references (av_frame_clone, no pixel copy) and are
// freed after consume returns, on every path; consume may edit a frame
// after making it writable. The redaction renderer uses it; Proxy does
// not (see proxy: on two cores it cost CPU without saving wall time).
func DecodePipelined(c *Closer, in *Input, decoders []*Decoder, consume func(d *Decoder, f *astiav.Frame) error) error {
	frames := make(chan decodedFrame, pipelineDepth)
	stop := make(chan struct{})
	produced := make(chan error, 1)
	go func() {
		defer close(frames)
		produced <- DecodeStreams(c, in, decoders, func(d *Decoder, f *astiav.Frame) error {
			cl := f.Clone()
			if cl == nil {
				return errors.New("cloning a decoded frame failed")
			}
			select {
			case frames <- decodedFrame{d: d, f: cl}:
				return nil
			case <-stop:
				cl.Free()
				return errPipelineStopped
			}
		})
	}()
	var consumeErr error
	for df := range frames {
		if consumeErr == nil {
			if consumeErr = consume(df.d, df.f); consumeErr != nil {
				close(stop)
			}
		}
		df.f.Free()
	}
	prodErr := <-produced
	if consumeErr != nil {
		return consumeErr
	}
	return prodErr
}

// withOp prefixes the operation of a *MediaError coming from a building
// block (which does not know which pipeline it runs in) and fills its path.
func withOp(op, path string, err error) error {
	var me *MediaError
	if errors.As(err, &me) {
		cp := *me
		cp.Op = op + ": " + me.Op
		if cp.Path == "" {
			cp.Path = path
		}
		return &cp
	}
	return mediaErr(op, path, nil, err)
}
