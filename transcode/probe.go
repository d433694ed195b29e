package transcode

import (
	"context"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/asticode/go-astiav"
)

// ProbeResult is what Probe learns about a media file without decoding it.
// It is JSON-tagged so the worker can store it on the evidence item as is.
type ProbeResult struct {
	// Format is FFmpeg's demuxer name, e.g. "mov,mp4,m4a,3gp,3g2,mj2".
	Format string `json:"format"`
	// FormatLongName is the human-readable container name.
	FormatLongName string `json:"format_long_name,omitempty"`
	// Duration in seconds: what the container declares or, when it
	// declares none (raw elementary streams), what the stream itself gives
	// (see DurationSource); 0 only when nothing does.
	Duration float64 `json:"duration"`
	// DurationSource says how Duration was derived: "container",
	// "stream_timestamps", "frame_count" or "unknown" (see the
	// DurationFrom* constants).
	DurationSource string `json:"duration_source"`
	// StartTime of the first packet in seconds.
	StartTime float64 `json:"start_time,omitempty"`
	// Size of the file in bytes.
	Size int64 `json:"size"`
	// BitRate of the whole file in bits per second, when known.
	BitRate int64 `json:"bit_rate,omitempty"`
	// HasVideo / HasAudio tell whether a usable stream of that kind exists
	// (cover art does not count as video).
	HasVideo bool `json:"has_video"`
	HasAudio bool `json:"has_audio"`
	// Rotation of the main video stream: degrees clockwise (0/90/180/270)
	// that a player turns the picture to show it upright.
	Rotation int `json:"rotation"`
	// CreationTime from the container (creation_time or
	// com.apple.quicktime.creationdate tags); cameras' clocks are often
	// wrong, so this is evidence of what the device claimed, not a fact.
	CreationTime *time.Time `json:"creation_time,omitempty"`
	// Location parsed from an ISO 6709 tag, when the container has one.
	Location *Location `json:"location,omitempty"`
	// Device tags (make, model, software, encoder, handler).
	Device Device `json:"device"`
	// Streams in file order.
	Streams []StreamInfo `json:"streams"`
	// Tags are all container-level tags, verbatim.
	Tags map[string]string `json:"tags,omitempty"`
}

// StreamInfo describes one stream.
type StreamInfo struct {
	Index int `json:"index"`
	// Kind is "video", "audio", "subtitle", "data" or "attachment".
	Kind string `json:"kind"`
	// Codec is FFmpeg's codec name ("h264", "aac", ...).
	Codec string `json:"codec"`
	// Profile is the codec profile number (FFmpeg's value; -99 unknown).
	Profile int `json:"profile,omitempty"`
	// Video.
	Width       int     `json:"width,omitempty"`
	Height      int     `json:"height,omitempty"`
	FrameRate   float64 `json:"frame_rate,omitempty"` // average frame rate
	PixelFormat string  `json:"pixel_format,omitempty"`
	Rotation    int     `json:"rotation,omitempty"`
	// AttachedPicture marks cover art (a still image, not video).
	AttachedPicture bool `json:"attached_picture,omitempty"`
	// Audio.
	SampleRate    int    `json:"sample_rate,omitempty"`
	Channels      int    `json:"channels,omitempty"`
	ChannelLayout string `json:"channel_layout,omitempty"`
	SampleFormat  string `json:"sample_format,omitempty"`
	// Both.
	BitRate  int64             `json:"bit_rate,omitempty"`
	Duration float64           `json:"duration,omitempty"`
	Frames   int64             `json:"frames,omitempty"`
	Language string            `json:"language,omitempty"`
	Tags     map[string]string `json:"tags,omitempty"`
}

// Device is what the recording device wrote about itself.
type Device struct {
	Make     string `json:"make,omitempty"`
	Model    string `json:"model,omitempty"`
	Software string `json:"software,omitempty"`
	// Encoder is the container's encoder/writing-application tag.
	Encoder string `json:"encoder,omitempty"`
	// Handler is the video (or first) stream's handler name.
	Handler string `json:"handler,omitempty"`
}

// Location is a point on Earth from an ISO 6709 string such as
// "+37.3318-122.0312+012.345/".
type Location struct {
	Latitude  float64  `json:"latitude"`
	Longitude float64  `json:"longitude"`
	Altitude  *float64 `json:"altitude,omitempty"`
	// Raw is the tag value as found, kept because it is the evidence.
	Raw string `json:"raw"`
	// Tag names where it was found.
	Tag string `json:"tag"`
}

// locationTags lists, best first, the container tags that carry a position.
var locationTags = []string{"com.apple.quicktime.location.ISO6709", "location", "location-eng"}

// Probe opens path and reports its container, streams and metadata. It
// reads only what libavformat needs to identify the streams (no full
// decode), so it does not prove that every frame is decodable: Proxy does.
//
// Errors: fs.ErrNotExist for a missing file, ErrCorruptMedia when FFmpeg
// cannot parse it, ErrNoMedia when it has no audio or video stream.
func Probe(ctx context.Context, path string) (*ProbeResult, error) {
	c := NewCloser()
	defer c.Close()
	in, err := OpenInput(ctx, c, path)
	if err != nil {
		return nil, withOp("probe", path, err)
	}
	fc := in.FormatContext
	r := &ProbeResult{
		BitRate: fc.BitRate(),
		Tags:    Metadata(fc.Metadata()),
		Streams: []StreamInfo{},
	}
	if f := fc.InputFormat(); f != nil {
		r.Format, r.FormatLongName = f.Name(), f.LongName()
	}
	if st := fc.StartTime(); st != astiav.NoPtsValue {
		r.StartTime = float64(st) / float64(astiav.TimeBase)
	}
	if fi, err := os.Stat(path); err == nil {
		r.Size = fi.Size()
	}
	for _, s := range fc.Streams() {
		r.Streams = append(r.Streams, streamInfo(fc, s))
	}
	r.HasVideo, r.HasAudio = in.Video != nil, in.Audio != nil
	if !r.HasVideo && !r.HasAudio {
		return nil, mediaErr("probe", path, ErrNoMedia, fmt.Errorf("%d stream(s), none audio or video", len(r.Streams)))
	}
	if in.Video != nil {
		r.Rotation = StreamRotation(in.Video)
	}
	if r.Duration, r.DurationSource, err = MediaDuration(ctx, in); err != nil {
		return nil, withOp("probe: duration", path, err)
	}
	var streamTags []map[string]string
	for _, s := range r.Streams {
		streamTags = append(streamTags, s.Tags)
	}
	r.CreationTime = creationTime(r.Tags, streamTags)
	r.Location = location(r.Tags)
	r.Device = device(r.Tags, in)
	return r, nil
}

func streamInfo(fc *astiav.FormatContext, s *astiav.Stream) StreamInfo {
	cp := s.CodecParameters()
	si := StreamInfo{
		Index:   s.Index(),
		Kind:    mediaKind(cp.MediaType()),
		Codec:   cp.CodecID().Name(),
		BitRate: cp.BitRate(),
		Frames:  s.NbFrames(),
		Tags:    Metadata(s.Metadata()),
	}
	if p := int(cp.Profile()); p >= 0 {
		si.Profile = p
	}
	if d := s.Duration(); d > 0 && d != astiav.NoPtsValue {
		si.Duration = float64(d) * s.TimeBase().Float64()
	}
	si.Language = si.Tags["language"]
	switch cp.MediaType() {
	case astiav.MediaTypeVideo:
		si.Width, si.Height = cp.Width(), cp.Height()
		if cp.PixelFormat() != astiav.PixelFormatNone {
			si.PixelFormat = cp.PixelFormat().Name()
		}
		fr := s.AvgFrameRate()
		if fr.Num() <= 0 || fr.Den() <= 0 {
			fr = fc.GuessFrameRate(s, nil)
		}
		if fr.Num() > 0 && fr.Den() > 0 {
			si.FrameRate = math.Round(fr.Float64()*1000) / 1000
		}
		si.Rotation = StreamRotation(s)
		si.AttachedPicture = isAttachedPicture(s)
	case astiav.MediaTypeAudio:
		si.SampleRate = cp.SampleRate()
		si.Channels = cp.Channels()
		if l := cp.ChannelLayout(); l.Valid() && l.NbChannels() > 0 {
			si.ChannelLayout = l.String()
		}
		if cp.SampleFormat() != astiav.SampleFormatNone {
			si.SampleFormat = cp.SampleFormat().Name()
		}
	}
	return si
}

func mediaKind(t astiav.MediaType) string {
	switch t {
	case astiav.MediaTypeVideo:
		return "video"
	case astiav.MediaTypeAudio:
		return "audio"
	case astiav.MediaTypeSubtitle:
		return "subtitle"
	case astiav.MediaTypeData:
		return "data"
	case astiav.MediaTypeAttachment:
		return "attachment"
	}
	return "unknown"
}

// creationTimeLayouts are the shapes creation tags take in the wild:
// FFmpeg's ISO 8601 with microseconds, Apple's with a numeric zone, and
// EXIF-like local times.
var creationTimeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999Z0700",
	"2006-01-02T15:04:05Z0700",
	"2006-01-02T15:04:05",
	"2006-01-02 15:04:05",
	"2006:01:02 15:04:05",
}

// ParseCreationTime parses a container creation-time tag value.
func ParseCreationTime(v string) (time.Time, error) {
	v = strings.TrimSpace(v)
	for _, l := range creationTimeLayouts {
		if t, err := time.Parse(l, v); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("unrecognised creation time %q", v)
}

func creationTime(tags map[string]string, streamTags []map[string]string) *time.Time {
	candidates := []string{tags["com.apple.quicktime.creationdate"], tags["creation_time"], tags["date"]}
	for _, st := range streamTags {
		candidates = append(candidates, st["creation_time"])
	}
	for _, v := range candidates {
		if v == "" {
			continue
		}
		if t, err := ParseCreationTime(v); err == nil && !t.IsZero() && t.Year() > 1904 {
			// 1904-01-01 is QuickTime's epoch: a zero field, not a date.
			return &t
		}
	}
	return nil
}

func location(tags map[string]string) *Location {
	for _, k := range locationTags {
		v, ok := tags[k]
		if !ok {
			continue
		}
		if loc, err := ParseISO6709(v); err == nil {
			loc.Tag = k
			return loc
		}
	}
	return nil
}

// ParseISO6709 parses the decimal-degree form of ISO 6709 that cameras and
// phones write: ±DD.D±DDD.D[±AAA.A][CRS]/ (degrees, optional altitude in
// metres, optional coordinate reference system, terminating slash
// optional). Out-of-range values are errors, not clamped, because a bad
// position on evidence must not look plausible.
func ParseISO6709(v string) (*Location, error) {
	raw := v
	s := strings.TrimSpace(v)
	s = strings.TrimSuffix(s, "/")
	if i := strings.Index(s, "CRS"); i >= 0 {
		s = s[:i]
	}
	var parts []string
	start := -1
	for i, ch := range s {
		switch {
		case ch == '+' || ch == '-':
			if start >= 0 {
				parts = append(parts, s[start:i])
			}
			start = i
		case (ch >= '0' && ch <= '9') || ch == '.':
			if start < 0 {
				return nil, fmt.Errorf("iso6709 %q: value must start with a sign", raw)
			}
		default:
			return nil, fmt.Errorf("iso6709 %q: unexpected %q", raw, ch)
		}
	}
	if start >= 0 {
		parts = append(parts, s[start:])
	}
	if len(parts) < 2 || len(parts) > 3 {
		return nil, fmt.Errorf("iso6709 %q: want latitude, longitude and optional altitude", raw)
	}
	nums := make([]float64, len(parts))
	for i, p := range parts {
		f, err := strconv.ParseFloat(p, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || len(p) < 2 {
			return nil, fmt.Errorf("iso6709 %q: bad number %q", raw, p)
		}
		nums[i] = f
	}
	if math.Abs(nums[0]) > 90 || math.Abs(nums[1]) > 180 {
		return nil, fmt.Errorf("iso6709 %q: coordinates out of range", raw)
	}
	loc := &Location{Latitude: nums[0], Longitude: nums[1], Raw: raw}
	if len(nums) == 3 {
		alt := nums[2]
		loc.Altitude = &alt
	}
	return loc, nil
}

func firstTag(tags map[string]string, keys ...string) string {
	for _, k := range keys {
		if v := strings.TrimSpace(tags[k]); v != "" {
			return v
		}
	}
	return ""
}

func device(tags map[string]string, in *Input) Device {
	d := Device{
		Make:     firstTag(tags, "com.apple.quicktime.make", "make", "com.android.manufacturer"),
		Model:    firstTag(tags, "com.apple.quicktime.model", "model", "com.android.model"),
		Software: firstTag(tags, "com.apple.quicktime.software", "software", "com.android.version"),
		Encoder:  firstTag(tags, "encoder", "encoded_by", "writing_application"),
	}
	s := in.Video
	if s == nil {
		s = in.Audio
	}
	if s != nil {
		st := Metadata(s.Metadata())
		d.Handler = firstTag(st, "handler_name")
		if d.Encoder == "" {
			d.Encoder = firstTag(st, "encoder")
		}
		if d.Make == "" {
			d.Make = firstTag(st, "vendor_id")
		}
	}
	return d
}
