package transcode

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/asticode/go-astiav"
)

// VideoEncoderOptions configures the H.264 (libx264) track of an MP4Writer.
type VideoEncoderOptions struct {
	// Width and Height of the frames that will be written; both must be even
	// (yuv420p chroma subsampling).
	Width, Height int
	// TimeBase of the pts of the frames that will be written (for example
	// FilterGraph.TimeBase()). Variable frame rate is kept: each frame keeps
	// its own timestamp.
	TimeBase astiav.Rational
	// FrameRate is the nominal (average) frame rate; a hint for rate control
	// and the GOP length. Zero means 30.
	FrameRate astiav.Rational
	// Preset is the x264 preset ("veryfast" when empty).
	Preset string
	// CRF is the x264 constant rate factor, 0..51 (23 when zero).
	CRF int
	// GOPSeconds is the maximum keyframe interval in seconds, which bounds
	// how far a browser must decode after a seek (2 when zero).
	GOPSeconds float64
	// Threads is the encoder thread count (0 = x264 decides from CPU count).
	Threads int
	// LastFrameDuration gives every video packet a duration (one nominal
	// frame at FrameRate) when the encoder leaves it unset, as libx264 in
	// FFmpeg 5.1 does. Without it the MP4 muxer gives the last sample a
	// duration of 0, the edit list then hides that frame and the file is one
	// frame short. It is an option only because callers written before it
	// (package redact) compensate by writing the last frame twice; new
	// callers should set it.
	LastFrameDuration bool
}

// AudioEncoderOptions configures the AAC track of an MP4Writer.
type AudioEncoderOptions struct {
	// SampleRate of the output; must be a rate AAC supports (see
	// AACSampleRate).
	SampleRate int
	// Channels: 1 (mono) or 2 (stereo). Inputs with more channels are
	// down-mixed by the resampler.
	Channels int
	// BitRate in bits per second (128000 when zero).
	BitRate int64
}

// MP4Writer encodes frames to H.264 and/or AAC and muxes them into an MP4
// file whose moov atom is at the front ("faststart"), so browsers can start
// playing and seek with HTTP range requests before the whole file arrives.
type MP4Writer struct {
	path       string
	fc         *astiav.FormatContext
	video      *encoderTrack
	audio      *encoderTrack
	headerDone bool
	finished   bool
}

type encoderTrack struct {
	cc      *astiav.CodecContext
	stream  *astiav.Stream
	pkt     *astiav.Packet
	lastPts int64
	// defaultDuration, when > 0, is set on packets without a duration
	// (encoder time base).
	defaultDuration int64
}

// AACSampleRate returns rate when AAC supports it, else 48000.
func AACSampleRate(rate int) int {
	switch rate {
	case 96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000:
		return rate
	}
	return 48000
}

// CreateMP4 creates path (truncating it) and prepares the tracks; at least
// one of video and audio must be non-nil. Frames are written with
// WriteVideoFrame / WriteAudioFrame and the file is completed by Finish.
// Until Finish returns nil the file is not a valid MP4.
func CreateMP4(ctx context.Context, c *Closer, path string, video *VideoEncoderOptions, audio *AudioEncoderOptions) (*MP4Writer, error) {
	const op = "create mp4"
	if err := ctx.Err(); err != nil {
		return nil, mediaErr(op, path, nil, err)
	}
	if video == nil && audio == nil {
		return nil, mediaErr(op, path, ErrInvalidOptions, errors.New("no track to write"))
	}
	fc, err := astiav.AllocOutputFormatContext(nil, "mp4", path)
	if err != nil || fc == nil {
		return nil, mediaErr(op, path, nil, fmt.Errorf("allocating output context: %w", err))
	}
	c.Add(fc.Free)
	registerLog(ctx, c, fc)
	w := &MP4Writer{path: path, fc: fc}
	if video != nil {
		if w.video, err = w.addVideo(c, *video); err != nil {
			return nil, err
		}
		registerLog(ctx, c, w.video.cc)
	}
	if audio != nil {
		if w.audio, err = w.addAudio(c, *audio); err != nil {
			return nil, err
		}
		registerLog(ctx, c, w.audio.cc)
	}
	ioc, err := astiav.OpenIOContext(path, astiav.NewIOContextFlags(astiav.IOContextFlagWrite))
	if err != nil {
		return nil, mediaErr(op, path, nil, err)
	}
	c.AddWithError(ioc.Close)
	fc.SetPb(ioc)
	opts := astiav.NewDictionary()
	defer opts.Free()
	// faststart: after the last packet the muxer rewrites the file with the
	// moov atom before mdat (a second pass over the output, bounded memory).
	if err := opts.Set("movflags", "+faststart", 0); err != nil {
		return nil, mediaErr(op, path, nil, err)
	}
	if err := fc.WriteHeader(opts); err != nil {
		return nil, mediaErr(op+": write header", path, nil, err)
	}
	w.headerDone = true
	return w, nil
}

func (w *MP4Writer) globalHeader(cc *astiav.CodecContext) {
	if w.fc.OutputFormat().Flags().Has(astiav.IOFormatFlagGlobalheader) {
		cc.SetFlags(cc.Flags().Add(astiav.CodecContextFlagGlobalHeader))
	}
}

func (w *MP4Writer) addVideo(c *Closer, o VideoEncoderOptions) (*encoderTrack, error) {
	const op = "create mp4: video encoder"
	if o.Width <= 0 || o.Height <= 0 || o.Width%2 != 0 || o.Height%2 != 0 {
		return nil, mediaErr(op, w.path, ErrInvalidOptions, fmt.Errorf("size %dx%d must be positive and even", o.Width, o.Height))
	}
	if o.TimeBase.Num() <= 0 || o.TimeBase.Den() <= 0 {
		return nil, mediaErr(op, w.path, ErrInvalidOptions, fmt.Errorf("bad time base %s", o.TimeBase))
	}
	if o.Preset == "" {
		o.Preset = "veryfast"
	}
	if o.CRF == 0 {
		o.CRF = 23
	}
	if o.CRF < 0 || o.CRF > 51 {
		return nil, mediaErr(op, w.path, ErrInvalidOptions, fmt.Errorf("crf %d out of 0..51", o.CRF))
	}
	if o.FrameRate.Num() <= 0 || o.FrameRate.Den() <= 0 {
		o.FrameRate = astiav.NewRational(30, 1)
	}
	if o.GOPSeconds <= 0 {
		o.GOPSeconds = 2
	}
	codec := astiav.FindEncoderByName("libx264")
	if codec == nil {
		return nil, mediaErr(op, w.path, ErrUnsupportedCodec, errors.New("libx264 encoder not available in this FFmpeg build"))
	}
	cc := astiav.AllocCodecContext(codec)
	if cc == nil {
		return nil, mediaErr(op, w.path, nil, errors.New("allocating codec context failed"))
	}
	c.Add(cc.Free)
	cc.SetWidth(o.Width)
	cc.SetHeight(o.Height)
	cc.SetPixelFormat(astiav.PixelFormatYuv420P)
	cc.SetSampleAspectRatio(astiav.NewRational(1, 1))
	cc.SetTimeBase(o.TimeBase)
	cc.SetFramerate(o.FrameRate)
	gop := int(o.GOPSeconds*o.FrameRate.Float64() + 0.5)
	if gop < 1 {
		gop = 1
	}
	cc.SetGopSize(gop)
	cc.SetThreadCount(o.Threads)
	w.globalHeader(cc)
	d := astiav.NewDictionary()
	defer d.Free()
	for k, v := range map[string]string{"preset": o.Preset, "crf": strconv.Itoa(o.CRF)} {
		if err := d.Set(k, v, 0); err != nil {
			return nil, mediaErr(op, w.path, nil, err)
		}
	}
	if err := cc.Open(codec, d); err != nil {
		return nil, mediaErr(op, w.path, ErrInvalidOptions, fmt.Errorf("opening libx264 (preset %q): %w", o.Preset, err))
	}
	t, err := w.newTrack(c, cc)
	if err != nil {
		return nil, err
	}
	if o.LastFrameDuration {
		t.defaultDuration = max(1, astiav.RescaleQ(1, astiav.NewRational(o.FrameRate.Den(), o.FrameRate.Num()), o.TimeBase))
	}
	return t, nil
}

func (w *MP4Writer) addAudio(c *Closer, o AudioEncoderOptions) (*encoderTrack, error) {
	const op = "create mp4: audio encoder"
	if AACSampleRate(o.SampleRate) != o.SampleRate {
		return nil, mediaErr(op, w.path, ErrInvalidOptions, fmt.Errorf("sample rate %d not supported by AAC", o.SampleRate))
	}
	var layout astiav.ChannelLayout
	switch o.Channels {
	case 1:
		layout = astiav.ChannelLayoutMono
	case 2:
		layout = astiav.ChannelLayoutStereo
	default:
		return nil, mediaErr(op, w.path, ErrInvalidOptions, fmt.Errorf("channels %d: want 1 or 2", o.Channels))
	}
	if o.BitRate == 0 {
		o.BitRate = 128000
	}
	codec := astiav.FindEncoder(astiav.CodecIDAac)
	if codec == nil {
		return nil, mediaErr(op, w.path, ErrUnsupportedCodec, errors.New("aac encoder not available"))
	}
	cc := astiav.AllocCodecContext(codec)
	if cc == nil {
		return nil, mediaErr(op, w.path, nil, errors.New("allocating codec context failed"))
	}
	c.Add(cc.Free)
	cc.SetSampleRate(o.SampleRate)
	cc.SetChannelLayout(layout)
	cc.SetChannels(o.Channels)
	cc.SetSampleFormat(astiav.SampleFormatFltp)
	cc.SetBitRate(o.BitRate)
	cc.SetTimeBase(astiav.NewRational(1, o.SampleRate))
	w.globalHeader(cc)
	if err := cc.Open(codec, nil); err != nil {
		return nil, mediaErr(op, w.path, ErrInvalidOptions, err)
	}
	return w.newTrack(c, cc)
}

func (w *MP4Writer) newTrack(c *Closer, cc *astiav.CodecContext) (*encoderTrack, error) {
	s := w.fc.NewStream(nil)
	if s == nil {
		return nil, mediaErr("create mp4", w.path, nil, errors.New("creating stream failed"))
	}
	if err := s.CodecParameters().FromCodecContext(cc); err != nil {
		return nil, mediaErr("create mp4", w.path, nil, err)
	}
	s.SetTimeBase(cc.TimeBase())
	pkt := astiav.AllocPacket()
	c.Add(pkt.Free)
	return &encoderTrack{cc: cc, stream: s, pkt: pkt, lastPts: astiav.NoPtsValue}, nil
}

// AudioTarget is what WriteAudioFrame expects: pass it to NewAudioResampler.
// The zero value is returned when the file has no audio track.
func (w *MP4Writer) AudioTarget() AudioTarget {
	if w.audio == nil {
		return AudioTarget{}
	}
	cc := w.audio.cc
	return AudioTarget{SampleRate: cc.SampleRate(), SampleFormat: cc.SampleFormat(), ChannelLayout: cc.ChannelLayout(), FrameSize: cc.FrameSize()}
}

// HasVideo and HasAudio report which tracks the file has.
func (w *MP4Writer) HasVideo() bool { return w.video != nil }

// HasAudio reports whether the file has an audio track.
func (w *MP4Writer) HasAudio() bool { return w.audio != nil }

// WriteVideoFrame encodes one yuv420p frame of the configured size whose pts
// is in VideoEncoderOptions.TimeBase. Timestamps that do not increase (which
// x264 rejects) are nudged forward by one tick.
func (w *MP4Writer) WriteVideoFrame(f *astiav.Frame) error {
	if w.video == nil {
		return mediaErr("write video", w.path, ErrInvalidOptions, errors.New("file has no video track"))
	}
	if w.video.lastPts != astiav.NoPtsValue && f.Pts() <= w.video.lastPts {
		f.SetPts(w.video.lastPts + 1)
	}
	w.video.lastPts = f.Pts()
	// Let x264 choose frame types; a decoder's picture type is meaningless here.
	f.SetPictureType(astiav.PictureTypeNone)
	return w.encode(w.video, f)
}

// WriteAudioFrame encodes one frame as produced by a resampler built from
// AudioTarget (pts in 1/SampleRate).
func (w *MP4Writer) WriteAudioFrame(f *astiav.Frame) error {
	if w.audio == nil {
		return mediaErr("write audio", w.path, ErrInvalidOptions, errors.New("file has no audio track"))
	}
	if w.audio.lastPts != astiav.NoPtsValue && f.Pts() <= w.audio.lastPts {
		f.SetPts(w.audio.lastPts + 1)
	}
	w.audio.lastPts = f.Pts()
	return w.encode(w.audio, f)
}

// encode sends f (nil = flush) and writes every packet that comes out.
func (w *MP4Writer) encode(t *encoderTrack, f *astiav.Frame) error {
	if err := t.cc.SendFrame(f); err != nil && !errors.Is(err, astiav.ErrEof) {
		return mediaErr("encode", w.path, nil, err)
	}
	for {
		t.pkt.Unref()
		err := t.cc.ReceivePacket(t.pkt)
		if err != nil {
			if errors.Is(err, astiav.ErrEagain) || errors.Is(err, astiav.ErrEof) {
				return nil
			}
			return mediaErr("encode", w.path, nil, err)
		}
		if t.pkt.Duration() <= 0 && t.defaultDuration > 0 {
			t.pkt.SetDuration(t.defaultDuration)
		}
		t.pkt.SetStreamIndex(t.stream.Index())
		// The muxer may have changed the stream time base in WriteHeader.
		t.pkt.RescaleTs(t.cc.TimeBase(), t.stream.TimeBase())
		if err := w.fc.WriteInterleavedFrame(t.pkt); err != nil {
			return mediaErr("mux", w.path, nil, err)
		}
	}
}

// Finish drains the encoders and writes the trailer (which, with faststart,
// moves the index to the front). The output file is complete only after
// Finish returns nil; the Closer still closes the file.
func (w *MP4Writer) Finish() error {
	if w.finished {
		return nil
	}
	w.finished = true
	for _, t := range []*encoderTrack{w.video, w.audio} {
		if t == nil {
			continue
		}
		if err := w.encode(t, nil); err != nil {
			return err
		}
	}
	if err := w.fc.WriteTrailer(); err != nil {
		return mediaErr("write trailer", w.path, nil, err)
	}
	return nil
}
