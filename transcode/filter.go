package transcode

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/asticode/go-astiav"
)

// FilterGraph is a single-input, single-output libavfilter graph:
// buffer (or abuffer) → the caller's filter string → buffersink (or
// abuffersink). Video pipelines use it for rotation, scaling, pixel-format
// conversion and (in package redact) drawing boxes/blur; audio pipelines for
// resampling and re-framing into the encoder's frame size.
type FilterGraph struct {
	graph *astiav.FilterGraph
	src   *astiav.FilterContext
	sink  *astiav.FilterContext
	out   *astiav.Frame
	spec  string
}

// VideoSource describes the frames that will be pushed into a video graph.
type VideoSource struct {
	Width, Height     int
	PixelFormat       astiav.PixelFormat
	TimeBase          astiav.Rational // time base of the pushed frames' pts
	SampleAspectRatio astiav.Rational // 0/1 or 0/0 means square pixels
}

// VideoSourceOf describes a decoded frame (its size and format, which can
// differ from the stream header) with the decoder's time base. Build graphs
// from the first decoded frame rather than from codec parameters.
func VideoSourceOf(f *astiav.Frame, timeBase astiav.Rational) VideoSource {
	return VideoSource{
		Width: f.Width(), Height: f.Height(), PixelFormat: f.PixelFormat(),
		TimeBase: timeBase, SampleAspectRatio: f.SampleAspectRatio(),
	}
}

// AudioSource describes the frames that will be pushed into an audio graph.
type AudioSource struct {
	SampleRate    int
	SampleFormat  astiav.SampleFormat
	ChannelLayout astiav.ChannelLayout
	Channels      int             // used when ChannelLayout is not valid
	TimeBase      astiav.Rational // time base of the pushed frames' pts
}

// AudioSourceOf describes a decoded audio frame with the decoder's time base.
func AudioSourceOf(f *astiav.Frame, timeBase astiav.Rational) AudioSource {
	return AudioSource{
		SampleRate: f.SampleRate(), SampleFormat: f.SampleFormat(),
		ChannelLayout: f.ChannelLayout(), Channels: f.ChannelLayout().NbChannels(),
		TimeBase: timeBase,
	}
}

// NewVideoFilter builds buffer → spec → buffersink. spec is an FFmpeg filter
// chain such as "transpose=clock,scale=1280:720,format=yuv420p"; an empty
// spec means "null" (pass-through). threads limits the graph's worker
// threads (0 = FFmpeg default).
func NewVideoFilter(c *Closer, src VideoSource, spec string, threads int) (*FilterGraph, error) {
	if src.Width <= 0 || src.Height <= 0 {
		return nil, mediaErr("video filter", "", ErrInvalidOptions, fmt.Errorf("bad source size %dx%d", src.Width, src.Height))
	}
	sar := src.SampleAspectRatio
	if sar.Num() <= 0 || sar.Den() <= 0 {
		sar = astiav.NewRational(1, 1)
	}
	args := astiav.FilterArgs{
		"pix_fmt":      strconv.Itoa(int(src.PixelFormat)),
		"pixel_aspect": sar.String(),
		"time_base":    src.TimeBase.String(),
		"video_size":   strconv.Itoa(src.Width) + "x" + strconv.Itoa(src.Height),
	}
	return newFilterGraph(c, "buffer", "buffersink", args, spec, threads)
}

// NewAudioFilter builds abuffer → spec → abuffersink.
func NewAudioFilter(c *Closer, src AudioSource, spec string) (*FilterGraph, error) {
	if src.SampleRate <= 0 {
		return nil, mediaErr("audio filter", "", ErrInvalidOptions, fmt.Errorf("bad sample rate %d", src.SampleRate))
	}
	args := astiav.FilterArgs{
		"sample_fmt":  src.SampleFormat.Name(),
		"sample_rate": strconv.Itoa(src.SampleRate),
		"time_base":   src.TimeBase.String(),
	}
	switch {
	case src.ChannelLayout.Valid() && src.ChannelLayout.NbChannels() > 0:
		args["channel_layout"] = src.ChannelLayout.String()
	case src.Channels == 1:
		args["channel_layout"] = "mono"
	case src.Channels == 2:
		args["channel_layout"] = "stereo"
	case src.Channels > 0:
		args["channels"] = strconv.Itoa(src.Channels)
	default:
		return nil, mediaErr("audio filter", "", ErrInvalidOptions, errors.New("unknown channel layout"))
	}
	return newFilterGraph(c, "abuffer", "abuffersink", args, spec, 1)
}

// AudioTarget is what an audio encoder wants to receive.
type AudioTarget struct {
	SampleRate    int
	SampleFormat  astiav.SampleFormat
	ChannelLayout astiav.ChannelLayout
	// FrameSize is the number of samples per frame the encoder requires
	// (1024 for AAC); 0 means any.
	FrameSize int
}

// NewAudioResampler converts src to target: sample rate, sample format and
// channel layout (down/up-mixing through libswresample), and re-frames the
// samples into target.FrameSize chunks because AAC accepts only full frames
// (plus one short final frame).
func NewAudioResampler(c *Closer, src AudioSource, target AudioTarget) (*FilterGraph, error) {
	spec := fmt.Sprintf("aresample=%d,aformat=sample_fmts=%s:sample_rates=%d:channel_layouts=%s",
		target.SampleRate, target.SampleFormat.Name(), target.SampleRate, target.ChannelLayout.String())
	if target.FrameSize > 0 {
		spec += fmt.Sprintf(",asetnsamples=n=%d:p=0", target.FrameSize)
	}
	return NewAudioFilter(c, src, spec)
}

func newFilterGraph(c *Closer, srcName, sinkName string, args astiav.FilterArgs, spec string, threads int) (*FilterGraph, error) {
	const op = "filter graph"
	if spec == "" {
		spec = "null"
		if srcName == "abuffer" {
			spec = "anull"
		}
	}
	g := &FilterGraph{spec: spec}
	if g.graph = astiav.AllocFilterGraph(); g.graph == nil {
		return nil, mediaErr(op, "", nil, errors.New("allocating filter graph failed"))
	}
	c.Add(g.graph.Free)
	if threads > 0 {
		g.graph.SetThreadCount(threads)
	}
	bsrc, bsink := astiav.FindFilterByName(srcName), astiav.FindFilterByName(sinkName)
	if bsrc == nil || bsink == nil {
		return nil, mediaErr(op, "", nil, fmt.Errorf("filters %s/%s not found", srcName, sinkName))
	}
	var err error
	if g.src, err = g.graph.NewFilterContext(bsrc, "in", args); err != nil {
		return nil, mediaErr(op, "", ErrInvalidOptions, fmt.Errorf("creating %s (%s): %w", srcName, args, err))
	}
	if g.sink, err = g.graph.NewFilterContext(bsink, "out", nil); err != nil {
		return nil, mediaErr(op, "", nil, fmt.Errorf("creating %s: %w", sinkName, err))
	}
	outputs, inputs := astiav.AllocFilterInOut(), astiav.AllocFilterInOut()
	if outputs == nil || inputs == nil {
		return nil, mediaErr(op, "", nil, errors.New("allocating filter in/out failed"))
	}
	// avfilter_graph_parse_ptr consumes (and may free) the lists; Free on
	// what remains is what FFmpeg's own examples do.
	defer outputs.Free()
	defer inputs.Free()
	outputs.SetName("in")
	outputs.SetFilterContext(g.src)
	outputs.SetPadIdx(0)
	outputs.SetNext(nil)
	inputs.SetName("out")
	inputs.SetFilterContext(g.sink)
	inputs.SetPadIdx(0)
	inputs.SetNext(nil)
	if err := g.graph.Parse(spec, inputs, outputs); err != nil {
		return nil, mediaErr(op, "", ErrInvalidOptions, fmt.Errorf("parsing %q: %w", spec, err))
	}
	if err := g.graph.Configure(); err != nil {
		return nil, mediaErr(op, "", ErrInvalidOptions, fmt.Errorf("configuring %q: %w", spec, err))
	}
	g.out = astiav.AllocFrame()
	c.Add(g.out.Free)
	return g, nil
}

// TimeBase is the time base of the pts of frames coming out of the graph
// (filters such as fps or aresample change it).
func (g *FilterGraph) TimeBase() astiav.Rational {
	return g.sink.Inputs()[0].TimeBase()
}

// Spec is the filter string the graph was built from.
func (g *FilterGraph) Spec() string { return g.spec }

// Push sends f through the graph and calls fn for every frame that comes
// out. Pass f == nil once at the end to flush. The frame passed to fn is
// reused after fn returns. The pushed frame is not modified.
func (g *FilterGraph) Push(f *astiav.Frame, fn func(*astiav.Frame) error) error {
	if err := g.src.BuffersrcAddFrame(f, astiav.NewBuffersrcFlags(astiav.BuffersrcFlagKeepRef)); err != nil {
		return mediaErr("filter", "", nil, fmt.Errorf("pushing frame into %q: %w", g.spec, err))
	}
	for {
		g.out.Unref()
		err := g.sink.BuffersinkGetFrame(g.out, astiav.NewBuffersinkFlags())
		if err != nil {
			if errors.Is(err, astiav.ErrEagain) || errors.Is(err, astiav.ErrEof) {
				return nil
			}
			return mediaErr("filter", "", nil, fmt.Errorf("pulling frame from %q: %w", g.spec, err))
		}
		if err := fn(g.out); err != nil {
			return err
		}
	}
}
