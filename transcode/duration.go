package transcode

import (
	"context"
	"errors"
	"math"
	"os"

	"github.com/asticode/go-astiav"
)

// How a duration was derived (ProbeResult.DurationSource). Recorded with the
// value because a duration computed from a frame count at an assumed rate
// is weaker evidence than one a container declares.
const (
	// DurationFromContainer: the container (or libavformat's estimate from
	// its timestamps, e.g. MPEG-TS PCR/PTS) declares it.
	DurationFromContainer = "container"
	// DurationFromTimestamps: the container declares none, so every packet
	// was read and the span of the timestamps taken (first to last plus the
	// last packet's duration).
	DurationFromTimestamps = "stream_timestamps"
	// DurationFromFrameCount: raw elementary streams (.h264, .265) carry no
	// timestamps: every video packet (one per frame after the parser) was
	// counted and divided by the stream's frame rate (from the SPS/VUI the
	// encoder wrote, or FFmpeg's default of 25 fps when it wrote none).
	DurationFromFrameCount = "frame_count"
	// DurationUnknown: nothing gave a duration.
	DurationUnknown = "unknown"
)

// MediaDuration is the duration of in in seconds and how it was derived.
// When the container declares one it is used as is; otherwise (raw
// elementary streams, some broken files) the file is read once more,
// packet by packet without decoding, through a second demuxer at path, so
// in itself is not moved.
func MediaDuration(ctx context.Context, in *Input) (float64, string, error) {
	if d := in.declaredDuration(); d > 0 {
		return d, DurationFromContainer, nil
	}
	if in.derived != nil {
		return in.derived.seconds, in.derived.source, nil
	}
	// Only a regular file can be read twice (a FIFO would block).
	if st, err := os.Stat(in.Path); err != nil || !st.Mode().IsRegular() {
		return 0, DurationUnknown, nil
	}
	c := NewCloser()
	defer c.Close()
	scan, err := OpenInput(ctx, c, in.Path)
	if err != nil {
		return 0, DurationUnknown, err
	}
	secs, source, err := scanDuration(scan)
	if err == nil {
		in.derived = &derivedDuration{seconds: secs, source: source}
	}
	return secs, source, err
}

// scanDuration reads every packet of in and derives the duration of its
// main stream (video if any, else audio) from packet timestamps or, where
// the format has none, from the packet count at the stream's frame rate.
func scanDuration(in *Input) (float64, string, error) {
	s := in.Video
	if s == nil {
		s = in.Audio
	}
	if s == nil {
		return 0, DurationUnknown, nil
	}
	noTimestamps := in.NoTimestamps()
	tb := s.TimeBase()
	pkt := astiav.AllocPacket()
	defer pkt.Free()
	var count int64
	first, end := int64(math.MaxInt64), int64(math.MinInt64)
	for {
		err := in.ReadPacket(pkt)
		if errors.Is(err, astiav.ErrEof) {
			break
		}
		if err != nil {
			if count > 0 && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
				break // a damaged tail: what was read still counts
			}
			return 0, DurationUnknown, err
		}
		if pkt.StreamIndex() != s.Index() {
			continue
		}
		count++
		ts := pkt.Pts()
		if ts == astiav.NoPtsValue {
			ts = pkt.Dts()
		}
		if ts != astiav.NoPtsValue {
			first = min(first, ts)
			end = max(end, ts+max(pkt.Duration(), 0))
		}
	}
	pkt.Unref()
	if !noTimestamps && end > first && first != math.MaxInt64 {
		return float64(end-first) * tb.Float64(), DurationFromTimestamps, nil
	}
	if s.CodecParameters().MediaType() == astiav.MediaTypeVideo && count > 0 {
		fr := in.FormatContext.GuessFrameRate(s, nil)
		if fr.Num() > 0 && fr.Den() > 0 {
			return float64(count) / fr.Float64(), DurationFromFrameCount, nil
		}
	}
	return 0, DurationUnknown, nil
}

// NoTimestamps reports inputs whose demuxer has no timestamps of its own
// (raw H.264/H.265/MPEG-4 elementary streams, raw MJPEG): FFmpeg invents
// them from the frame rate, so a seek by time lands nowhere useful and
// frames after it carry times counted from the seek, not from the start.
func (in *Input) NoTimestamps() bool {
	f := in.FormatContext.InputFormat()
	if f == nil {
		return false
	}
	if f.Flags().Has(astiav.IOFormatFlagNotimestamps) {
		return true
	}
	switch f.Name() {
	case "h264", "hevc", "m4v", "mjpeg", "cavsvideo", "vc1", "mpegvideo", "h263", "dirac", "avs2", "vvc":
		return true
	}
	return false
}
