package transcode

import (
	"math"
	"strconv"
	"strings"

	"github.com/asticode/go-astiav"
)

// Metadata returns a copy of an FFmpeg dictionary (container or stream
// tags) as a Go map; nil dictionaries give an empty map.
func Metadata(d *astiav.Dictionary) map[string]string {
	out := map[string]string{}
	if d == nil {
		return out
	}
	var prev *astiav.DictionaryEntry
	for {
		e := d.Get("", prev, astiav.NewDictionaryFlags(astiav.DictionaryFlagIgnoreSuffix))
		if e == nil {
			return out
		}
		out[e.Key()] = e.Value()
		prev = e
	}
}

// StreamRotation returns how many degrees clockwise (0, 90, 180 or 270) the
// decoded pictures of s must be turned to display upright. Phones and
// body-worn cameras record sensor-native frames and store the orientation
// as a display matrix (or, in older files, a "rotate" tag); players apply
// it, so a proxy that ignored it would show sideways video.
func StreamRotation(s *astiav.Stream) int {
	if s == nil {
		return 0
	}
	if b := s.SideData(astiav.PacketSideDataTypeDisplaymatrix); len(b) >= 36 {
		if m, err := astiav.NewDisplayMatrixFromBytes(b); err == nil {
			if r := m.Rotation(); !math.IsNaN(r) && !math.IsInf(r, 0) {
				return normalizeRotation(r)
			}
		}
	}
	if v, ok := Metadata(s.Metadata())["rotate"]; ok {
		if r, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
			return normalizeRotation(r)
		}
	}
	return 0
}

// normalizeRotation rounds to the nearest quarter turn in [0, 360).
func normalizeRotation(deg float64) int {
	q := int(math.Round(deg/90)) % 4
	if q < 0 {
		q += 4
	}
	return q * 90
}

// RotationFilter is the filter chain that turns pictures rotation degrees
// clockwise (as returned by StreamRotation), or "" for none. These are the
// same filters the ffmpeg CLI inserts for autorotate.
func RotationFilter(rotation int) string {
	switch normalizeRotation(float64(rotation)) {
	case 90:
		return "transpose=clock"
	case 180:
		return "hflip,vflip"
	case 270:
		return "transpose=cclock"
	}
	return ""
}

// ProxySize returns the output size for a picture of width×height with
// sample aspect ratio sar after rotating it rotation degrees: square
// pixels, aspect kept, never upscaled, short side ≤ maxShort and long side
// ≤ maxLong (720 and 1280 for a 720p proxy, which bounds portrait video the
// same way), both dimensions even (yuv420p and most hardware decoders
// require it) and at least 2.
func ProxySize(width, height int, sar astiav.Rational, rotation, maxShort, maxLong int) (int, int) {
	w, h := float64(width), float64(height)
	if sar.Num() > 0 && sar.Den() > 0 && sar.Num() != sar.Den() {
		w = w * float64(sar.Num()) / float64(sar.Den())
	}
	if r := normalizeRotation(float64(rotation)); r == 90 || r == 270 {
		w, h = h, w
	}
	short, long := math.Min(w, h), math.Max(w, h)
	f := 1.0
	if maxShort > 0 && short > float64(maxShort) {
		f = math.Min(f, float64(maxShort)/short)
	}
	if maxLong > 0 && long > float64(maxLong) {
		f = math.Min(f, float64(maxLong)/long)
	}
	even := func(v float64) int {
		// Round down to even (never upscale by a pixel); the small epsilon
		// absorbs float error such as 1279.9999 for 1920×(720/1080).
		n := int((v+0.01)/2) * 2
		if n < 2 {
			n = 2
		}
		return n
	}
	return even(w * f), even(h * f)
}
