package redact

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"time"

	"github.com/asticode/go-astiav"

	"github.com/opendems/opendems/transcode"
)

// RenderOptions tunes the encoder and reports progress. The zero value
// gives libx264 "veryfast" CRF 20 and AAC 128 kb/s.
type RenderOptions struct {
	// Preset is the x264 preset ("veryfast" when empty).
	Preset string
	// CRF is the x264 constant rate factor (20 when zero).
	CRF int
	// Threads is the encoder and decoder thread count (0: FFmpeg decides).
	Threads int
	// Progress, when set, is called after each encoded video frame.
	Progress func(Progress)
	// MaxHeight, when positive, scales the output down to at most this
	// many lines (width in proportion, both even), for the editor's fast
	// preview; regions are drawn at the scaled coordinates, so what is
	// obscured is what the full render obscures. 0 keeps the source size.
	MaxHeight int
	// SkipReportFiles leaves OUT.redaction.{json,csv} unwritten (the caller
	// stores the returned Report itself).
	SkipReportFiles bool
}

// Progress is how far a render or detection has got.
type Progress struct {
	// Done and Total are seconds of the clip (Total 0 when unknown).
	Done, Total float64
	// Frames is the number of video frames processed so far.
	Frames int
}

// ErrRender is wrapped by Render errors that are not about the spec or the
// media (for example a failing output disk).
var ErrRender = errors.New("redaction render failed")

// mediaInfo reads what ValidateMedia needs from an opened input.
func mediaInfo(in *transcode.Input) MediaInfo {
	m := MediaInfo{Duration: in.Duration(), HasVideo: in.Video != nil, HasAudio: in.Audio != nil}
	if m.Duration <= 0 {
		m.Duration = math.Inf(1) // unknown: nothing can be "after the end"
	}
	if in.Video != nil {
		cp := in.Video.CodecParameters()
		m.Width, m.Height = cp.Width(), cp.Height()
		m.Rotation = transcode.StreamRotation(in.Video)
		if m.Rotation == 90 || m.Rotation == 270 {
			m.Width, m.Height = m.Height, m.Width
		}
	}
	return m
}

// Probe returns the media facts ValidateMedia needs.
func Probe(ctx context.Context, path string) (MediaInfo, error) {
	c := transcode.NewCloser()
	defer c.Close()
	in, err := transcode.OpenInput(ctx, c, path)
	if err != nil {
		return MediaInfo{}, err
	}
	return mediaInfo(in), nil
}

// startSeconds is the container start time that the spec's time 0 maps to,
// the same origin the ffmpeg CLI uses for its filters' t.
func startSeconds(in *transcode.Input) float64 {
	st := in.FormatContext.StartTime()
	if st == astiav.NoPtsValue || st < 0 {
		return 0
	}
	return float64(st) / float64(astiav.TimeBase)
}

// Render writes the redacted clip described by spec from the media file in
// to out (H.264 + AAC MP4, faststart) and returns the report; unless
// opts.SkipReportFiles it also writes OUT.redaction.json and .csv.
//
// The spec is validated against the probed media first; nothing is
// written when it does not fit. Every decoded frame whose time lies in a
// window is obscured before it reaches the encoder. On error or
// cancellation the partial output is removed, so a file at out is always a
// complete render.
func Render(ctx context.Context, spec *Spec, in, out string, opts RenderOptions) (*Report, error) {
	if spec == nil {
		return nil, fmt.Errorf("redact: render: %w: nil spec", ErrInvalidSpec)
	}
	var rep *Report
	err := errSeekMissed
	for _, margin := range seekMargins {
		if rep, err = renderOnce(ctx, spec, in, out, opts, margin); !errors.Is(err, errSeekMissed) {
			break
		}
	}
	return rep, err
}

// seekMargins are how far before a late in point (> seekMargin) Render
// and Detect seek, in the order tried when the demuxer lands after the in
// point: to the keyframe at or before the in point itself (exact for MP4
// and MOV, whose index lists every keyframe, and it decodes the least);
// seekMargin earlier, for containers whose index is coarse; then no seek
// (-1), decoding from the start, which is exact for every container.
var seekMargins = []float64{0, seekMargin, -1}

// seekMargin is the second try's distance before the in point, and the
// in point below which decoding simply starts at the beginning.
const seekMargin = 2.0

// errSeekMissed reports that after seeking the first decoded frame was
// already past the in point, so frames would be missing.
var errSeekMissed = errors.New("seek landed after the clip in point")

func renderOnce(ctx context.Context, spec *Spec, in, out string, opts RenderOptions, margin float64) (rep *Report, err error) {
	c := transcode.NewCloser()
	closed := false
	defer func() {
		if !closed {
			if cerr := c.Close(); cerr != nil && err == nil {
				err = fmt.Errorf("redact: render: %w: %w", ErrRender, cerr)
			}
		}
		if err != nil {
			os.Remove(out)
		}
	}()
	input, err := transcode.OpenInput(ctx, c, in)
	if err != nil {
		return nil, fmt.Errorf("redact: render: %w", err)
	}
	media := mediaInfo(input)
	if err := spec.ValidateMedia(media); err != nil {
		return nil, fmt.Errorf("redact: render %s: %w", in, err)
	}
	r, err := newRenderer(ctx, c, spec, input, out, media, opts)
	if err != nil {
		return nil, err
	}
	if margin >= 0 && r.in > seekMargin {
		// Decoding from the start to reach a late in point can take minutes
		// on long recordings; seek to a keyframe before it instead. Frames
		// before the in point are still dropped by their own pts, so the
		// result is identical; errSeekMissed guards containers whose seek
		// lands late.
		ts := int64((r.in + r.start - margin) * float64(astiav.TimeBase))
		if err := input.FormatContext.SeekFrame(-1, ts, astiav.NewSeekFlags(astiav.SeekFlagBackward)); err == nil {
			r.checkSeek = true
		}
	}
	var decoders []*transcode.Decoder
	if r.vdec != nil {
		decoders = append(decoders, r.vdec)
	}
	if r.adec != nil {
		decoders = append(decoders, r.adec)
	}
	err = transcode.DecodePipelined(c, input, decoders, func(d *transcode.Decoder, f *astiav.Frame) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		if d == r.vdec {
			return r.video(f)
		}
		return r.audio(f)
	})
	if errors.Is(err, errPastOut) {
		err = nil
	}
	if err == nil {
		err = r.flush()
	}
	if err == nil {
		err = r.w.Finish()
	}
	if err != nil {
		if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
			err = fmt.Errorf("%w (%w)", cerr, err)
		}
		return nil, fmt.Errorf("redact: render %s: %w", in, err)
	}
	if r.vdec != nil && r.frames == 0 {
		return nil, fmt.Errorf("redact: render %s: %w: no video frame in the clip range", in, transcode.ErrCorruptMedia)
	}
	if r.vdec == nil && r.samples == 0 {
		return nil, fmt.Errorf("redact: render %s: %w: no audio in the clip range", in, transcode.ErrCorruptMedia)
	}
	// Close the output before hashing it.
	closed = true
	if err := c.Close(); err != nil {
		return nil, fmt.Errorf("redact: render: %w: closing output: %w", ErrRender, err)
	}
	src, err := hashFile(ctx, in)
	if err != nil {
		return nil, err
	}
	dst, err := hashFile(ctx, out)
	if err != nil {
		return nil, err
	}
	rep = &Report{
		Version: ReportVersion, Source: src, Output: dst, ClipSource: spec.Clip.Source,
		In: r.in, Out: r.out, Frames: r.frames, Samples: r.samples,
		RenderedAt: time.Now().UTC(), Spec: spec,
	}
	if math.IsInf(rep.Out, 1) {
		rep.Out = r.lastT
	}
	rep.Items = buildItems(spec, r.plan, r.in, rep.Out)
	if !opts.SkipReportFiles {
		if err := rep.WriteFiles(out); err != nil {
			return nil, err
		}
	}
	return rep, nil
}

// errPastOut stops decoding once every stream is past the out point.
var errPastOut = errors.New("past clip out point")

// renderer holds one render job's state.
type renderer struct {
	ctx        context.Context //nolint:containedctx // one job; checked per frame
	c          *transcode.Closer
	plan       *Plan
	opts       RenderOptions
	vdec, adec *transcode.Decoder
	w          *transcode.MP4Writer
	vgraph     *transcode.FilterGraph
	agraph     *transcode.FilterGraph
	filterSpec string
	start      float64 // container start time (spec time 0)
	in, out    float64 // rendered source range; out = +Inf for "to the end"
	total      float64 // seconds to render, for progress
	vtb        astiav.Rational
	frames     int
	samples    int64
	lastT      float64 // source time of the last encoded frame
	videoDone  bool
	audioDone  bool
	checkSeek  bool // after a seek: first frames must not be past the in point
	seenVideo  bool
	seenAudio  bool
}

func newRenderer(ctx context.Context, c *transcode.Closer, spec *Spec, in *transcode.Input, out string, media MediaInfo, opts RenderOptions) (*renderer, error) {
	r := &renderer{ctx: ctx, c: c, plan: NewPlan(spec), opts: opts, start: startSeconds(in), in: spec.Clip.In, out: spec.Clip.Out}
	if r.out == 0 {
		r.out = math.Inf(1)
	}
	r.total = min(r.out, media.Duration) - r.in
	if math.IsInf(r.total, 1) {
		r.total = 0
	}
	var err error
	var vopts *transcode.VideoEncoderOptions
	if in.Video != nil {
		if vopts, err = r.openVideo(c, in, media); err != nil {
			return nil, err
		}
	} else {
		r.videoDone = true // audio-only evidence: an AAC-only MP4
	}
	var aopts *transcode.AudioEncoderOptions
	if in.Audio != nil {
		if r.adec, err = transcode.NewDecoder(c, in, in.Audio, 1); err != nil {
			return nil, fmt.Errorf("redact: render: %w", err)
		}
		cp := in.Audio.CodecParameters()
		aopts = &transcode.AudioEncoderOptions{SampleRate: transcode.AACSampleRate(cp.SampleRate()), Channels: min(2, max(1, cp.ChannelLayout().NbChannels()))}
	} else {
		r.audioDone = true
	}
	if r.w, err = transcode.CreateMP4(ctx, c, out, vopts, aopts); err != nil {
		return nil, fmt.Errorf("redact: render: %w", err)
	}
	return r, nil
}

// openVideo opens the video decoder and describes the H.264 track.
func (r *renderer) openVideo(c *transcode.Closer, in *transcode.Input, media MediaInfo) (*transcode.VideoEncoderOptions, error) {
	var err error
	if r.vdec, err = transcode.NewDecoder(c, in, in.Video, r.opts.Threads); err != nil {
		return nil, fmt.Errorf("redact: render: %w", err)
	}
	// The encoder needs even dimensions; cropping the odd last row/column
	// (rather than scaling) keeps every spec coordinate where it was.
	w, h := media.Width&^1, media.Height&^1
	if w < 2 || h < 2 {
		return nil, fmt.Errorf("redact: render: %w: frame size %dx%d too small", transcode.ErrCorruptMedia, media.Width, media.Height)
	}
	// Rotate first, so spec coordinates, effects and the slate are all in
	// the upright picture a viewer sees (the output carries no rotation).
	r.filterSpec = fmt.Sprintf("crop=%d:%d:0:0,format=yuv420p", w, h)
	if mh := r.opts.MaxHeight; mh > 0 && h > mh {
		// Scale before the effects, so they work on the small picture
		// (cheaper) at coordinates the plan scales the same way.
		oh := max(2, mh&^1)
		ow := max(2, int(math.Round(float64(w)*float64(oh)/float64(h)/2))*2)
		r.filterSpec = fmt.Sprintf("crop=%d:%d:0:0,scale=%d:%d:flags=bilinear,format=yuv420p", w, h, ow, oh)
		r.plan.scaleTo(float64(ow)/float64(w), float64(oh)/float64(h))
		w, h = ow, oh
	}
	if rot := transcode.RotationFilter(media.Rotation); rot != "" {
		r.filterSpec = rot + "," + r.filterSpec
	}
	r.vtb = in.Video.TimeBase()
	fr := in.FormatContext.GuessFrameRate(in.Video, nil)
	if fr.Num() <= 0 || fr.Den() <= 0 {
		fr = astiav.NewRational(30, 1)
	}
	vopts := &transcode.VideoEncoderOptions{
		Width: w, Height: h, TimeBase: r.vtb,
		FrameRate: fr,
		Preset:    r.opts.Preset, CRF: r.opts.CRF, Threads: r.opts.Threads,
		// Without packet durations the MP4 edit list hides the last frame.
		LastFrameDuration: true,
	}
	if vopts.CRF == 0 {
		vopts.CRF = 20
	}
	return vopts, nil
}

// video filters (crop, yuv420p), redacts and encodes one decoded frame.
func (r *renderer) video(f *astiav.Frame) error {
	if r.videoDone {
		return r.stopIfDone()
	}
	if r.vgraph == nil {
		g, err := transcode.NewVideoFilter(r.c, transcode.VideoSourceOf(f, r.vdec.TimeBase()), r.filterSpec, 1)
		if err != nil {
			return err
		}
		r.vgraph = g
	}
	return r.vgraph.Push(f, r.videoOut)
}

func (r *renderer) videoOut(f *astiav.Frame) error {
	tb := r.vgraph.TimeBase()
	t := ptsSeconds(f.Pts(), tb) - r.start
	if !r.seenVideo {
		r.seenVideo = true
		if r.checkSeek && t > r.in {
			return errSeekMissed
		}
	}
	if t < r.in {
		return nil
	}
	if t > r.out {
		r.videoDone = true
		return r.stopIfDone()
	}
	if r.plan.Active(t) {
		if err := makeWritable(f); err != nil {
			return err
		}
		img, err := yuvView(f)
		if err != nil {
			return err
		}
		r.plan.ApplyVideo(img, t)
	}
	f.SetPts(astiav.RescaleQ(f.Pts(), tb, r.vtb) - r.secondsToTs(r.in+r.start, r.vtb))
	if err := r.w.WriteVideoFrame(f); err != nil {
		return err
	}
	r.frames++
	r.lastT = t
	if r.opts.Progress != nil {
		r.opts.Progress(Progress{Done: t - r.in, Total: r.total, Frames: r.frames})
	}
	return nil
}

// ptsSeconds converts a timestamp to seconds as one correctly rounded
// division, so a frame at exactly 1.0 s is 1.0 and not 0.99999…, which
// matters for windows whose bounds fall on frame times.
func ptsSeconds(pts int64, tb astiav.Rational) float64 {
	return float64(pts*int64(tb.Num())) / float64(tb.Den())
}

func (r *renderer) secondsToTs(s float64, tb astiav.Rational) int64 {
	return int64(math.Round(s * float64(tb.Den()) / float64(tb.Num())))
}

// audio resamples to the encoder's format, mutes/bleeps and encodes.
func (r *renderer) audio(f *astiav.Frame) error {
	if r.audioDone {
		return r.stopIfDone()
	}
	if !r.seenAudio {
		r.seenAudio = true
		if r.checkSeek && ptsSeconds(f.Pts(), r.adec.TimeBase())-r.start > r.in {
			return errSeekMissed
		}
	}
	if r.agraph == nil {
		target := r.w.AudioTarget()
		src := transcode.AudioSourceOf(f, r.adec.TimeBase())
		// Trim in the source timeline first so the output starts exactly at
		// the in point; then resample and re-frame for AAC.
		spec := ""
		if r.in > 0 || !math.IsInf(r.out, 1) {
			spec = fmt.Sprintf("atrim=start=%g", r.in+r.start)
			if !math.IsInf(r.out, 1) {
				spec += fmt.Sprintf(":end=%g", r.out+r.start)
			}
			spec += ","
		}
		spec += fmt.Sprintf("aresample=%d,aformat=sample_fmts=fltp:sample_rates=%d:channel_layouts=%s,asetnsamples=n=%d:p=0",
			target.SampleRate, target.SampleRate, target.ChannelLayout.String(), max(target.FrameSize, 1))
		g, err := transcode.NewAudioFilter(r.c, src, spec)
		if err != nil {
			return err
		}
		r.agraph = g
	}
	return r.agraph.Push(f, r.audioOut)
}

func (r *renderer) audioOut(f *astiav.Frame) error {
	tb := r.agraph.TimeBase()
	sr := f.SampleRate()
	t0 := ptsSeconds(f.Pts(), tb) - r.start
	if t0 > r.out {
		r.audioDone = true
		return r.stopIfDone()
	}
	if err := makeWritable(f); err != nil {
		return err
	}
	chans, err := floatPlanes(f)
	if err != nil {
		return err
	}
	r.plan.ApplyAudio(chans, sr, t0)
	if r.vdec == nil {
		r.lastT = t0 + float64(f.NbSamples()-1)/float64(sr)
		if r.opts.Progress != nil {
			r.opts.Progress(Progress{Done: t0 - r.in, Total: r.total})
		}
	}
	atb := astiav.NewRational(1, sr)
	f.SetPts(astiav.RescaleQ(f.Pts(), tb, atb) - r.secondsToTs(r.in+r.start, atb))
	r.samples += int64(f.NbSamples())
	return r.w.WriteAudioFrame(f)
}

// stopIfDone ends decoding early once both streams passed the out point.
func (r *renderer) stopIfDone() error {
	if r.videoDone && r.audioDone {
		return errPastOut
	}
	return nil
}

// flush drains the filter graphs into the encoders.
func (r *renderer) flush() error {
	if r.vgraph != nil && !r.videoDone {
		if err := r.vgraph.Push(nil, r.videoOut); err != nil && !errors.Is(err, errPastOut) {
			return err
		}
	}
	if r.agraph != nil && !r.audioDone {
		if err := r.agraph.Push(nil, r.audioOut); err != nil && !errors.Is(err, errPastOut) {
			return err
		}
	}
	return nil
}
