package redact

import "github.com/opendems/opendems/redact/spec"

// The redaction spec lives in package spec (pure Go); these names keep
// package redact's API and code as they were.
type (
	Spec            = spec.Spec
	Clip            = spec.Clip
	Shape           = spec.Shape
	EffectType      = spec.EffectType
	Effect          = spec.Effect
	Origin          = spec.Origin
	Keyframe        = spec.Keyframe
	Interp          = spec.Interp
	Review          = spec.Review
	Region          = spec.Region
	AudioAction     = spec.AudioAction
	AudioRange      = spec.AudioRange
	FullFrameBlur   = spec.FullFrameBlur
	Position        = spec.Position
	Slate           = spec.Slate
	FieldError      = spec.FieldError
	ValidationError = spec.ValidationError
	MediaInfo       = spec.MediaInfo
)

// Box is a rectangle in pixels of the upright source picture; the same as
// spec.Box (Region.BoxAt answers one), defined here so code of this
// package writes Box{x, y, w, h}.
type Box spec.Box

// rgb is a parsed colour with the conversions rendering needs (effects.go).
type rgb spec.RGB

// The redaction report, from package spec.
type (
	Report     = spec.Report
	FileDigest = spec.FileDigest
	ReportItem = spec.ReportItem
)

// ReportPaths names the report files written beside a render's output.
func ReportPaths(out string) (jsonPath, csvPath string) { return spec.ReportPaths(out) }

// Spec constants and values, from package spec.
const (
	SpecVersion         = spec.SpecVersion
	MaxSpecSize         = spec.MaxSpecSize
	ShapeRectangle      = spec.ShapeRectangle
	ShapeEllipse        = spec.ShapeEllipse
	EffectBlur          = spec.EffectBlur
	EffectPixelate      = spec.EffectPixelate
	EffectFill          = spec.EffectFill
	OriginAuto          = spec.OriginAuto
	OriginManual        = spec.OriginManual
	InterpLinear        = spec.InterpLinear
	InterpHold          = spec.InterpHold
	ReviewAccepted      = spec.ReviewAccepted
	ReviewRejected      = spec.ReviewRejected
	AudioMute           = spec.AudioMute
	AudioBleep          = spec.AudioBleep
	PositionTopLeft     = spec.PositionTopLeft
	PositionTopRight    = spec.PositionTopRight
	PositionBottomLeft  = spec.PositionBottomLeft
	PositionBottomRight = spec.PositionBottomRight
	PositionCenter      = spec.PositionCenter
	defaultBlur         = spec.DefaultBlur
	ReportVersion       = spec.ReportVersion
	KindRegion          = spec.KindRegion
	KindAudio           = spec.KindAudio
	KindFullFrame       = spec.KindFullFrame
	KindSlate           = spec.KindSlate
)

// ErrInvalidSpec wraps every spec validation failure (spec.ErrInvalidSpec).
var ErrInvalidSpec = spec.ErrInvalidSpec

// Parse reads and validates a spec document (spec.Parse).
func Parse(data []byte) (*Spec, error) { return spec.Parse(data) }

func parseColor(s string) (rgb, error) {
	c, err := spec.ParseColor(s)
	return rgb(c), err
}
