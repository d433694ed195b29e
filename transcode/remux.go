package transcode

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/asticode/go-astiav"
)

// How a proxy was made (ProxyResult.Method).
const (
	// ProxyRemuxed: the source's H.264/AAC packets were copied unchanged
	// into a new faststart MP4 (no re-encode, no quality loss).
	ProxyRemuxed = "remux"
	// ProxyEncoded: the source was decoded and re-encoded with libx264/AAC.
	ProxyEncoded = "encode"
)

// Defaults of the remux rule (ProxyOptions).
const (
	defaultRemuxMaxBitRate     = 8_000_000
	defaultMaxKeyframeInterval = 2.0
)

// errNotRemuxable is returned by remuxProxy when the copy finds, midway,
// that the source breaks the remux rule (a keyframe gap too long for
// scrubbing, interlaced pictures); the caller then encodes instead.
type errNotRemuxable struct{ reason string }

func (e *errNotRemuxable) Error() string { return "not remuxable: " + e.reason }

// remuxBlocker applies the header part of the remux rule (see doc.go,
// "Remux rule") and returns why in cannot be remuxed, or "" if it may be.
// The rest of the rule (keyframe interval, interlacing) is checked while
// the packets are copied.
func remuxBlocker(in *Input, opts ProxyOptions) string {
	if opts.NoRemux {
		return "remux disabled"
	}
	if in.Video == nil {
		return "no video"
	}
	// ISO BMFF sources only: their H.264 is stored length-prefixed with an
	// avcC header, exactly what an MP4 holds, so packets copy bit for bit.
	// MPEG-TS and raw streams (Annex B, often no timestamps) are encoded.
	if f := in.FormatContext.InputFormat(); f == nil || !strings.Contains(f.Name(), "mp4") {
		return "container is not MP4/MOV"
	}
	vp := in.Video.CodecParameters()
	if vp.CodecID() != astiav.CodecIDH264 {
		return fmt.Sprintf("video codec %s is not H.264", vp.CodecID())
	}
	switch vp.Profile() {
	case astiav.ProfileH264Baseline, astiav.ProfileH264ConstrainedBaseline, astiav.ProfileH264Main, astiav.ProfileH264High:
	default:
		return fmt.Sprintf("H.264 profile %d is not baseline, main or high", vp.Profile())
	}
	if vp.PixelFormat() != astiav.PixelFormatYuv420P {
		return fmt.Sprintf("pixel format %s is not 8-bit yuv420p", vp.PixelFormat())
	}
	if len(vp.ExtraData()) == 0 || vp.ExtraData()[0] != 1 {
		return "H.264 without an avcC header"
	}
	// The redaction editor draws on an upright proxy: a rotated source is
	// turned upright by an encode, never left to the display matrix.
	if r := StreamRotation(in.Video); r != 0 {
		return fmt.Sprintf("rotated %d degrees", r)
	}
	// Size within the proxy bounds, even, square pixels: exactly the size
	// an encode would give.
	sar := in.FormatContext.GuessSampleAspectRatio(in.Video, nil)
	if w, h := ProxySize(vp.Width(), vp.Height(), sar, 0, opts.MaxShortSide, opts.MaxLongSide); w != vp.Width() || h != vp.Height() {
		return fmt.Sprintf("size %dx%d is not within the proxy's %dx%d (even, square pixels)", vp.Width(), vp.Height(), w, h)
	}
	if br := in.FormatContext.BitRate(); br <= 0 || br > opts.RemuxMaxBitRate {
		return fmt.Sprintf("bit rate %d b/s is unknown or above %d", br, opts.RemuxMaxBitRate)
	}
	if in.Audio != nil {
		ap := in.Audio.CodecParameters()
		if ap.CodecID() != astiav.CodecIDAac || ap.Profile() != astiav.ProfileAacLow {
			return fmt.Sprintf("audio %s (profile %d) is not AAC-LC", ap.CodecID(), ap.Profile())
		}
		if ap.Channels() < 1 || ap.Channels() > 2 || AACSampleRate(ap.SampleRate()) != ap.SampleRate() {
			return fmt.Sprintf("audio %d channels at %d Hz is not mono/stereo AAC", ap.Channels(), ap.SampleRate())
		}
	}
	return ""
}

// interlaceCheck passes only frames flagged interlaced (top or bottom
// field first); what it outputs for a source's first frame decides.
const interlaceCheck = "select='not(eq(interlace_type\\,PROGRESSIVE))'"

// remuxProxy copies in's video (and AAC audio) packets into a faststart
// MP4 at outPath, shifted to start at 0. The video is decoded only as far
// as the stills need (and always its first frame, to check interlacing);
// nothing is encoded. A source found midway to break the remux rule gives
// *errNotRemuxable.
func remuxProxy(ctx context.Context, c, oc *Closer, in *Input, duration float64, durationSource, outPath string, opts ProxyOptions, progress func(Progress), st *stills) (*ProxyResult, error) {
	const op = "proxy: remux"
	vp := in.Video.CodecParameters()
	res := &ProxyResult{Method: ProxyRemuxed, HasVideo: true, Width: vp.Width(), Height: vp.Height(), Duration: duration}

	fc, err := astiav.AllocOutputFormatContext(nil, "mp4", outPath)
	if err != nil || fc == nil {
		return nil, mediaErr(op, outPath, nil, fmt.Errorf("allocating output context: %w", err))
	}
	oc.Add(fc.Free)
	registerLog(ctx, oc, fc)
	type track struct {
		in, out *astiav.Stream
		offset  int64 // start of the file in the input stream's time base
	}
	start := in.FormatContext.StartTime()
	if start == astiav.NoPtsValue {
		start = 0
	}
	tracks := map[int]*track{}
	for _, s := range []*astiav.Stream{in.Video, in.Audio} {
		if s == nil {
			continue
		}
		o := fc.NewStream(nil)
		if o == nil {
			return nil, mediaErr(op, outPath, nil, errors.New("allocating output stream failed"))
		}
		if err := s.CodecParameters().Copy(o.CodecParameters()); err != nil {
			return nil, mediaErr(op, outPath, nil, err)
		}
		o.CodecParameters().SetCodecTag(0) // let the MP4 muxer pick avc1/mp4a
		o.SetTimeBase(s.TimeBase())
		tracks[s.Index()] = &track{in: s, out: o, offset: astiav.RescaleQ(start, astiav.NewRational(1, astiav.TimeBase), s.TimeBase())}
	}
	res.HasAudio = in.Audio != nil
	ioc, err := astiav.OpenIOContext(outPath, astiav.NewIOContextFlags(astiav.IOContextFlagWrite))
	if err != nil {
		return nil, mediaErr(op, outPath, nil, err)
	}
	oc.AddWithError(ioc.Close)
	fc.SetPb(ioc)
	dict := astiav.NewDictionary()
	defer dict.Free()
	if err := dict.Set("movflags", "+faststart", 0); err != nil {
		return nil, mediaErr(op, outPath, nil, err)
	}
	if err := fc.WriteHeader(dict); err != nil {
		return nil, mediaErr(op+": write header", outPath, nil, err)
	}

	vd, err := NewDecoder(c, in, in.Video, opts.Threads)
	if err != nil {
		return nil, withOp("proxy", in.Path, err)
	}
	vt := tracks[in.Video.Index()]
	checked := false
	var interlaced bool
	onFrame := func(f *astiav.Frame) error {
		if !checked {
			checked = true
			sc := NewCloser()
			defer sc.Close()
			g, err := NewVideoFilter(sc, VideoSourceOf(f, vd.TimeBase()), interlaceCheck, 1)
			if err != nil {
				return err
			}
			seen := func(*astiav.Frame) error { interlaced = true; return nil }
			if err := g.Push(f, seen); err != nil {
				return err
			}
			if err := g.Push(nil, seen); err != nil {
				return err
			}
			if interlaced {
				return &errNotRemuxable{reason: "interlaced video"}
			}
		}
		if st != nil && !st.done() {
			f.SetPts(f.Pts() - vt.offset)
			st.take(f)
		}
		return nil
	}
	needFrames := func() bool { return !checked || (st != nil && !st.done()) }

	maxGOP := opts.MaxKeyframeInterval
	tbSec := in.Video.TimeBase().Float64()
	lastKey := int64(astiav.NoPtsValue)
	var decodedEnd float64
	total := time.Duration(duration * float64(time.Second))
	lastPercent := -1.0
	pkt := astiav.AllocPacket()
	c.Add(pkt.Free)
	for {
		err := in.ReadPacket(pkt)
		if errors.Is(err, astiav.ErrEof) {
			break
		}
		if err != nil {
			return nil, withOp("proxy", in.Path, err)
		}
		t, ok := tracks[pkt.StreamIndex()]
		// A packet the demuxer could read only in part (a file cut short)
		// is left out rather than copied damaged into the proxy.
		if !ok || pkt.Flags().Has(astiav.PacketFlagCorrupt) {
			continue
		}
		pts := pkt.Pts()
		if pts == astiav.NoPtsValue {
			pts = pkt.Dts()
		}
		if pts != astiav.NoPtsValue {
			end := float64(pts-t.offset+max(pkt.Duration(), 0)) * t.in.TimeBase().Float64()
			decodedEnd = max(decodedEnd, end)
		}
		if t.in == in.Video {
			res.VideoFrames++
			if pts != astiav.NoPtsValue {
				if pkt.Flags().Has(astiav.PacketFlagKey) {
					lastKey = pts
				}
				// Every frame must lie within maxGOP of the keyframe before
				// it: checked per packet, so a long GOP is found (and the
				// encode takes over) within its first seconds.
				if lastKey != astiav.NoPtsValue {
					if gap := float64(pts-lastKey) * tbSec; gap > maxGOP {
						return nil, &errNotRemuxable{reason: fmt.Sprintf("keyframe interval above %.1f s", maxGOP)}
					}
				}
			}
			if needFrames() {
				if err := vd.Decode(pkt, onFrame); err != nil {
					return nil, withOp("proxy", in.Path, err)
				}
			}
			if progress != nil && total > 0 && pts != astiav.NoPtsValue {
				pos := time.Duration(float64(pts-t.offset) * tbSec * float64(time.Second))
				if p := min(100, max(0, 100*pos.Seconds()/total.Seconds())); p-lastPercent >= 0.5 {
					lastPercent = p
					progress(Progress{Percent: p, Position: pos, Duration: total})
				}
			}
		}
		if pkt.Pts() != astiav.NoPtsValue {
			pkt.SetPts(pkt.Pts() - t.offset)
		}
		if pkt.Dts() != astiav.NoPtsValue {
			pkt.SetDts(pkt.Dts() - t.offset)
		}
		pkt.SetStreamIndex(t.out.Index())
		pkt.SetPos(-1)
		pkt.RescaleTs(t.in.TimeBase(), t.out.TimeBase())
		if err := fc.WriteInterleavedFrame(pkt); err != nil {
			return nil, mediaErr(op+": mux", outPath, nil, err)
		}
	}
	if needFrames() {
		if err := vd.Decode(nil, onFrame); err != nil {
			return nil, withOp("proxy", in.Path, err)
		}
	}
	if res.VideoFrames == 0 || lastKey == astiav.NoPtsValue {
		return nil, &errNotRemuxable{reason: "no video keyframe"}
	}
	if !checked {
		// Nothing decoded: the encode will say why in its own words.
		return nil, &errNotRemuxable{reason: "no decodable video frame"}
	}
	if err := ctx.Err(); err != nil {
		return nil, mediaErr("proxy", in.Path, nil, err)
	}
	if err := fc.WriteTrailer(); err != nil {
		return nil, mediaErr(op+": write trailer", outPath, nil, err)
	}
	res.Completeness = newCompleteness(duration, durationSource, decodedEnd)
	if progress != nil {
		progress(Progress{Percent: 100, Position: total, Duration: total})
	}
	return res, nil
}

// makeProxy writes the proxy of input into tmpPath: a remux when the
// source passes the remux rule, else an encode. When the copy finds midway
// that the source breaks the rule, the file is rewritten by an encode from
// a freshly opened input, and the stills (if any) start again with it
// through restart. It returns the result and the output's Closer, which
// the caller closes (through commitOutput) before renaming.
func makeProxy(ctx context.Context, c *Closer, input *Input, duration float64, durationSource, tmpPath string, opts ProxyOptions, progress func(Progress), st *stills, restart func(*Input) *stills) (*ProxyResult, *Closer, error) {
	if progress != nil {
		// A remux abandoned midway has reported some progress; the encode
		// that takes over starts again from 0. Never show progress going
		// back.
		report, shown := progress, -1.0
		progress = func(p Progress) {
			if p.Percent > shown || p.Percent == 100 {
				shown = p.Percent
				report(p)
			}
		}
	}
	blocker := remuxBlocker(input, opts)
	if blocker == "" {
		oc := NewCloser()
		res, err := remuxProxy(ctx, c, oc, input, duration, durationSource, tmpPath, opts, progress, st)
		if err == nil {
			return res, oc, nil
		}
		_ = oc.Close()
		var nr *errNotRemuxable
		if !errors.As(err, &nr) {
			return nil, nil, err
		}
		blocker = nr.reason
		path := input.Path
		if input, err = OpenInput(ctx, c, path); err != nil {
			return nil, nil, withOp("proxy", path, err)
		}
		if st != nil && restart != nil {
			st = restart(input)
		}
	}
	oc := NewCloser()
	var tap func(f *astiav.Frame)
	if st != nil {
		tap = st.take
	}
	res, err := proxy(ctx, c, oc, input, duration, durationSource, tmpPath, opts, progress, tap)
	if err != nil {
		_ = oc.Close()
		return nil, nil, err
	}
	res.Method, res.NotRemuxed = ProxyEncoded, blocker
	return res, oc, nil
}
