// Package spec is the redaction spec (what to render from which source and
// how each region and audio range is obscured), its parsing and
// validation, in pure Go: the API, the records officers' floor and `dems`
// read and check specs without linking FFmpeg. Package redact renders them.
package spec

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// SpecVersion is the only spec version this build reads and writes. A new
// version is introduced whenever a field changes meaning, so an old spec is
// never silently rendered differently.
const SpecVersion = 1

// MaxSpecSize bounds a spec document; a legitimate spec with thousands of
// keyframes stays far below it, and the bound keeps a hostile upload from
// exhausting memory.
const MaxSpecSize = 16 << 20

// Limits that keep every number renderable; anything outside them is a
// mistake, not a video.
const (
	maxCoordinate = 1 << 16   // pixels
	maxTime       = 1e7       // seconds (~115 days)
	maxKeyframes  = 1 << 20   // per region
	maxTextLen    = 200       // slate characters
	minBlockSize  = 2         // pixelate
	maxBlockSize  = 1024      // pixelate
	maxFrequency  = 20000.0   // bleep Hz
	minFrequency  = 20.0      // bleep Hz
	defaultBleep  = 1000.0    // Hz
	defaultFill   = "#000000" // solid fill colour
	defaultBlur   = 40        // strength, percent
)

// DefaultBlur is the blur strength (percent) of a region that names none.
const DefaultBlur = defaultBlur

// Spec is a versioned redaction spec: what to render from which source, and
// how each region and audio range is obscured.
type Spec struct {
	// Version must be SpecVersion.
	Version int `json:"version"`
	// Clip names the source and the optional in/out points.
	Clip Clip `json:"clip"`
	// Regions are the tracked areas to obscure.
	Regions []Region `json:"regions,omitempty"`
	// Audio lists ranges to mute or bleep.
	Audio []AudioRange `json:"audio,omitempty"`
	// FullFrameBlur lists time ranges in which the whole picture is blurred.
	FullFrameBlur []FullFrameBlur `json:"full_frame_blur,omitempty"`
	// Slate is an optional burned-in text (request number, "REDACTED").
	Slate *Slate `json:"slate,omitempty"`
}

// Clip selects the source and, optionally, the part of it to render.
type Clip struct {
	// Source is the evidence item ID or file the spec was written for. It
	// is recorded in the report; the renderer reads the input it is given.
	Source string `json:"source"`
	// In is the first source second to render (0: from the start).
	In float64 `json:"in,omitempty"`
	// Out is the last source second to render (0: to the end).
	Out float64 `json:"out,omitempty"`
}

// Shape is the area of a region's box that is obscured.
type Shape string

// Shapes.
const (
	ShapeRectangle Shape = "rectangle"
	ShapeEllipse   Shape = "ellipse"
)

// EffectType names how pixels are obscured.
type EffectType string

// Effects.
const (
	// EffectBlur is a three-pass box blur (close to Gaussian) whose radius
	// is Strength percent of the region's smaller side, so the same
	// strength hides a small and a large face equally.
	EffectBlur EffectType = "blur"
	// EffectPixelate averages BlockSize×BlockSize blocks.
	EffectPixelate EffectType = "pixelate"
	// EffectFill paints a solid colour.
	EffectFill EffectType = "fill"
)

// Effect says how a region (or the full frame) is obscured.
type Effect struct {
	Type EffectType `json:"type"`
	// Strength (blur): 1..100, blur radius as percent of the smaller side.
	Strength int `json:"strength,omitempty"`
	// BlockSize (pixelate): block edge in source pixels, 2..1024.
	BlockSize int `json:"block_size,omitempty"`
	// Color (fill): "#rrggbb"; empty means black.
	Color string `json:"color,omitempty"`
}

// Origin says who proposed a region or range; a release reviewer treats
// automatic proposals with more suspicion than what a person drew.
type Origin string

// Origins.
const (
	OriginAuto   Origin = "auto"
	OriginManual Origin = "manual"
)

// Keyframe is a region's box at one instant, in pixels of the upright
// (rotation-applied) source picture. Interp and Hidden describe the span
// from this keyframe to the next (the MLT/Shotcut convention), so the
// editor and the renderer agree on every frame between two keyframes;
// the zero values keep the original meaning (visible, linear).
type Keyframe struct {
	Time   float64 `json:"time"`
	X      float64 `json:"x"`
	Y      float64 `json:"y"`
	Width  float64 `json:"width"`
	Height float64 `json:"height"`
	// Interp is how the box moves until the next keyframe: "linear"
	// (default when empty) or "hold" (stays at this keyframe's box).
	Interp Interp `json:"interp,omitempty"`
	// Hidden marks the object as out of view from this keyframe until the
	// next one (CVAT's "outside"): nothing is obscured there, and nothing
	// is interpolated across the gap.
	Hidden bool `json:"hidden,omitempty"`
}

// Interp is a keyframe's interpolation to the next keyframe.
type Interp string

// Interpolations.
const (
	InterpLinear Interp = "linear"
	InterpHold   Interp = "hold"
)

// Review is a person's decision on an automatic proposal.
type Review string

// Reviews. An automatic region without a review is still a proposal: it is
// rendered (fail closed) until someone accepts or rejects it.
const (
	ReviewAccepted Review = "accepted"
	ReviewRejected Review = "rejected"
)

// Region is one tracked area: a box interpolated linearly between its
// keyframes, obscured from the first keyframe's time to the last's
// (inclusive). A region with a single keyframe covers that one instant.
type Region struct {
	// ID names the region in the report; Parse assigns "region-N" when empty.
	ID     string `json:"id,omitempty"`
	Shape  Shape  `json:"shape"`
	Effect Effect `json:"effect"`
	// Reason is why it is redacted: a free text or an exemption code.
	Reason string `json:"reason"`
	Origin Origin `json:"origin"`
	// Confidence is the detector's confidence (0..1) for automatic regions.
	Confidence float64 `json:"confidence,omitempty"`
	// Review records the decision on an automatic proposal; a rejected
	// region stays in the spec as part of the record but is not rendered.
	Review Review `json:"review,omitempty"`
	// Person groups the regions that follow one person (the editor's
	// People panel: accept or reject a person at once, merge two, split a
	// track off): an opaque label such as "person-3", at most 64
	// printable characters. Empty (older specs) means the region is its
	// own person. Rendering ignores it.
	Person    string     `json:"person,omitempty"`
	Keyframes []Keyframe `json:"keyframes"`
}

// AudioAction is what happens to the sound in an audio range.
type AudioAction string

// Audio actions.
const (
	// AudioMute replaces the samples with digital silence.
	AudioMute AudioAction = "mute"
	// AudioBleep replaces the samples with a sine tone.
	AudioBleep AudioAction = "bleep"
)

// AudioRange is a time range, inclusive at both ends, of sound to replace.
type AudioRange struct {
	// ID names the range in the report; Parse assigns "audio-N" when empty.
	ID     string      `json:"id,omitempty"`
	Start  float64     `json:"start"`
	End    float64     `json:"end"`
	Action AudioAction `json:"action"`
	// Frequency of the bleep tone in Hz (default 1000).
	Frequency float64 `json:"frequency,omitempty"`
	Reason    string  `json:"reason"`
	// Origin defaults to manual.
	Origin Origin `json:"origin,omitempty"`
}

// FullFrameBlur blurs the whole picture over a time range (inclusive).
type FullFrameBlur struct {
	// ID names the range in the report; Parse assigns "frame-N" when empty.
	ID    string  `json:"id,omitempty"`
	Start float64 `json:"start"`
	End   float64 `json:"end"`
	// Strength 1..100: blur radius as percent of the frame's smaller side
	// divided by 4 (so 100 smears the frame beyond recognition).
	Strength int    `json:"strength,omitempty"`
	Reason   string `json:"reason"`
}

// Position places the slate.
type Position string

// Slate positions.
const (
	PositionTopLeft     Position = "top-left"
	PositionTopRight    Position = "top-right"
	PositionBottomLeft  Position = "bottom-left"
	PositionBottomRight Position = "bottom-right"
	PositionCenter      Position = "center"
)

// Slate is text burned into the picture, e.g. "REQ-2026-0042 REDACTED".
// It is rendered with a built-in bitmap font (printable ASCII), so no font
// file has to exist on the machine.
type Slate struct {
	Text string `json:"text"`
	// Position defaults to bottom-left.
	Position Position `json:"position,omitempty"`
	// Size is the text height in output pixels (0: a 24th of the frame height).
	Size int `json:"size,omitempty"`
	// Start and End limit the slate to a range; both 0 means the whole clip.
	Start float64 `json:"start,omitempty"`
	End   float64 `json:"end,omitempty"`
}

// ErrInvalidSpec is wrapped by every error Parse, Validate and
// ValidateMedia return for a spec that cannot be rendered faithfully.
var ErrInvalidSpec = errors.New("invalid redaction spec")

// FieldError names one problem: the JSON path of the field and the reason.
type FieldError struct {
	Field  string // e.g. "regions[2].keyframes[1].time"
	Reason string // e.g. "after end of media (31.2s > 30.0s)"
}

func (e FieldError) Error() string {
	if e.Field == "" {
		return e.Reason
	}
	return e.Field + ": " + e.Reason
}

// ValidationError lists every problem found, in document order, so an
// editor can show all of them at once.
type ValidationError struct {
	Problems []FieldError
}

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.Error()
	}
	return "redaction spec: " + strings.Join(parts, "; ")
}

// Unwrap lets callers test errors.Is(err, ErrInvalidSpec).
func (e *ValidationError) Unwrap() error { return ErrInvalidSpec }

// problems accumulates FieldErrors.
type problems []FieldError

func (p *problems) add(field, format string, args ...any) {
	*p = append(*p, FieldError{Field: field, Reason: fmt.Sprintf(format, args...)})
}

func (p problems) err() error {
	if len(p) == 0 {
		return nil
	}
	return &ValidationError{Problems: p}
}

// Parse decodes a spec, rejects unknown fields and trailing data, fills
// defaults (IDs, origins, effect parameters, bleep frequency) and validates
// its structure. Validation against the media is ValidateMedia.
func Parse(data []byte) (*Spec, error) {
	if len(data) > MaxSpecSize {
		return nil, &ValidationError{Problems: []FieldError{{Reason: fmt.Sprintf("spec is %d bytes, limit %d", len(data), MaxSpecSize)}}}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var s Spec
	if err := dec.Decode(&s); err != nil {
		return nil, &ValidationError{Problems: []FieldError{jsonProblem(err)}}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, &ValidationError{Problems: []FieldError{{Reason: "unexpected data after the spec object"}}}
	}
	s.Normalize()
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return &s, nil
}

// jsonProblem turns a decoding error into a FieldError naming the field
// where the decoder knows it.
func jsonProblem(err error) FieldError {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te):
		return FieldError{Field: te.Field, Reason: fmt.Sprintf("want %s, got JSON %s", te.Type, te.Value)}
	case errors.As(err, &se):
		return FieldError{Reason: fmt.Sprintf("malformed JSON at byte %d: %v", se.Offset, err)}
	case errors.Is(err, io.EOF):
		return FieldError{Reason: "empty spec"}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return FieldError{Reason: "truncated JSON"}
	}
	msg := err.Error()
	// encoding/json reports unknown fields as `json: unknown field "x"`.
	if f, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		if name, err := strconv.Unquote(f); err == nil {
			return FieldError{Field: name, Reason: "unknown field"}
		}
	}
	return FieldError{Reason: strings.TrimPrefix(msg, "json: ")}
}

// Normalize fills defaults that do not change what a valid spec means, so
// that the report names every item and records the parameters used (Parse
// does it; a spec built in code calls it before Validate).
func (s *Spec) Normalize() {
	for i := range s.Regions {
		r := &s.Regions[i]
		if r.ID == "" {
			r.ID = "region-" + strconv.Itoa(i+1)
		}
		switch r.Effect.Type {
		case EffectBlur:
			if r.Effect.Strength == 0 {
				r.Effect.Strength = defaultBlur
			}
		case EffectFill:
			if r.Effect.Color == "" {
				r.Effect.Color = defaultFill
			}
		}
	}
	for i := range s.Audio {
		a := &s.Audio[i]
		if a.ID == "" {
			a.ID = "audio-" + strconv.Itoa(i+1)
		}
		if a.Action == AudioBleep && a.Frequency == 0 {
			a.Frequency = defaultBleep
		}
		if a.Origin == "" {
			a.Origin = OriginManual
		}
	}
	for i := range s.FullFrameBlur {
		f := &s.FullFrameBlur[i]
		if f.ID == "" {
			f.ID = "frame-" + strconv.Itoa(i+1)
		}
		if f.Strength == 0 {
			f.Strength = defaultBlur
		}
	}
	if s.Slate != nil && s.Slate.Position == "" {
		s.Slate.Position = PositionBottomLeft
	}
}

// Validate checks the spec's structure without media: versions, enums,
// required fields, non-negative and ordered times, positive sizes, unique
// IDs. It does not know the frame size or duration; see ValidateMedia.
// maxPerson bounds a region's person label.
const maxPerson = 64

func checkPerson(p *problems, field, person string) {
	if len(person) > maxPerson {
		p.add(field, "%d bytes, at most %d", len(person), maxPerson)
		return
	}
	for _, c := range person {
		if c < 0x20 || c == 0x7f || c == utf8.RuneError {
			p.add(field, "contains a control or invalid character")
			return
		}
	}
}

func (s *Spec) Validate() error {
	var p problems
	if s.Version != SpecVersion {
		p.add("version", "unsupported version %d (this build reads %d)", s.Version, SpecVersion)
	}
	checkTime(&p, "clip.in", s.Clip.In)
	checkTime(&p, "clip.out", s.Clip.Out)
	if s.Clip.Out != 0 && s.Clip.Out <= s.Clip.In {
		p.add("clip.out", "not after clip.in (%s <= %s)", secs(s.Clip.Out), secs(s.Clip.In))
	}
	ids := map[string]string{}
	checkID := func(field, id string) {
		if id == "" {
			p.add(field, "must not be empty")
			return
		}
		if id == "slate" {
			p.add(field, `"slate" is reserved for the slate's report item`)
			return
		}
		if prev, dup := ids[id]; dup {
			p.add(field, "duplicate id %q (also %s)", id, prev)
			return
		}
		ids[id] = field
	}
	for i, r := range s.Regions {
		f := fmt.Sprintf("regions[%d]", i)
		checkID(f+".id", r.ID)
		checkPerson(&p, f+".person", r.Person)
		switch r.Shape {
		case ShapeRectangle, ShapeEllipse:
		case "":
			p.add(f+".shape", "missing (want rectangle or ellipse)")
		default:
			p.add(f+".shape", "unknown shape %q (want rectangle or ellipse)", r.Shape)
		}
		checkEffect(&p, f+".effect", r.Effect)
		checkReason(&p, f+".reason", r.Reason)
		checkOrigin(&p, f+".origin", r.Origin, true)
		if r.Confidence < 0 || r.Confidence > 1 {
			p.add(f+".confidence", "out of range %g (want 0..1)", r.Confidence)
		}
		switch r.Review {
		case "", ReviewAccepted, ReviewRejected:
		default:
			p.add(f+".review", "unknown review %q (want accepted or rejected)", r.Review)
		}
		switch {
		case len(r.Keyframes) == 0:
			p.add(f+".keyframes", "at least one keyframe is required")
		case len(r.Keyframes) > maxKeyframes:
			p.add(f+".keyframes", "%d keyframes, limit %d", len(r.Keyframes), maxKeyframes)
		}
		for j, k := range r.Keyframes {
			kf := fmt.Sprintf("%s.keyframes[%d]", f, j)
			checkTime(&p, kf+".time", k.Time)
			if j > 0 && k.Time <= r.Keyframes[j-1].Time {
				p.add(kf+".time", "not after the previous keyframe (%s <= %s)", secs(k.Time), secs(r.Keyframes[j-1].Time))
			}
			checkCoord(&p, kf+".x", k.X, false)
			checkCoord(&p, kf+".y", k.Y, false)
			checkCoord(&p, kf+".width", k.Width, true)
			checkCoord(&p, kf+".height", k.Height, true)
			switch k.Interp {
			case "", InterpLinear, InterpHold:
			default:
				p.add(kf+".interp", "unknown interpolation %q (want linear or hold)", k.Interp)
			}
		}
	}
	for i, a := range s.Audio {
		f := fmt.Sprintf("audio[%d]", i)
		checkID(f+".id", a.ID)
		checkRange(&p, f, a.Start, a.End)
		switch a.Action {
		case AudioMute:
			if a.Frequency != 0 {
				p.add(f+".frequency", "only a bleep has a frequency")
			}
		case AudioBleep:
			if a.Frequency < minFrequency || a.Frequency > maxFrequency {
				p.add(f+".frequency", "%g Hz out of range (want %g..%g)", a.Frequency, minFrequency, maxFrequency)
			}
		case "":
			p.add(f+".action", "missing (want mute or bleep)")
		default:
			p.add(f+".action", "unknown action %q (want mute or bleep)", a.Action)
		}
		checkReason(&p, f+".reason", a.Reason)
		checkOrigin(&p, f+".origin", a.Origin, false)
	}
	for i, b := range s.FullFrameBlur {
		f := fmt.Sprintf("full_frame_blur[%d]", i)
		checkID(f+".id", b.ID)
		checkRange(&p, f, b.Start, b.End)
		if b.Strength < 1 || b.Strength > 100 {
			p.add(f+".strength", "%d out of range (want 1..100)", b.Strength)
		}
		checkReason(&p, f+".reason", b.Reason)
	}
	if sl := s.Slate; sl != nil {
		switch {
		case strings.TrimSpace(sl.Text) == "":
			p.add("slate.text", "must not be empty")
		case len(sl.Text) > maxTextLen:
			p.add("slate.text", "%d characters, limit %d", len(sl.Text), maxTextLen)
		default:
			for i, r := range sl.Text {
				if r < 0x20 || r > 0x7e {
					p.add("slate.text", "character %q at %d is not printable ASCII (the built-in font has no glyph for it)", r, i)
					break
				}
			}
		}
		switch sl.Position {
		case PositionTopLeft, PositionTopRight, PositionBottomLeft, PositionBottomRight, PositionCenter:
		default:
			p.add("slate.position", "unknown position %q (want top-left, top-right, bottom-left, bottom-right or center)", sl.Position)
		}
		if sl.Size < 0 || sl.Size > 1024 {
			p.add("slate.size", "%d out of range (want 0..1024 pixels)", sl.Size)
		}
		if sl.Start != 0 || sl.End != 0 {
			checkRange(&p, "slate", sl.Start, sl.End)
		}
	}
	return p.err()
}

// MediaInfo is what validation needs to know about the probed source.
type MediaInfo struct {
	Duration float64 // seconds
	// Width and Height are the picture as displayed: the decoded size with
	// the stream's rotation applied (a 1920×1080 recording rotated 90° is
	// 1080×1920). Spec coordinates are in this upright picture.
	Width  int
	Height int
	// Rotation is the clockwise rotation (0, 90, 180, 270) the renderer
	// and detector apply to decoded frames before anything else.
	Rotation int
	HasVideo bool
	HasAudio bool
}

// ValidateMedia checks what only the media can tell: every time lies within
// the duration and every box lies inside the frame. A spec that passes both
// Validate and ValidateMedia renders exactly as written: nothing is clamped
// or dropped silently.
func (s *Spec) ValidateMedia(m MediaInfo) error {
	if err := s.Validate(); err != nil {
		return err
	}
	var p problems
	switch {
	case !m.HasVideo && !m.HasAudio:
		p.add("", "media has no audio or video stream")
	case !m.HasVideo:
		// Audio-only evidence (calls, interviews) can be muted and bleeped;
		// anything visual cannot be rendered.
		for i := range s.Regions {
			p.add(fmt.Sprintf("regions[%d]", i), "media has no video stream")
		}
		for i := range s.FullFrameBlur {
			p.add(fmt.Sprintf("full_frame_blur[%d]", i), "media has no video stream")
		}
		if s.Slate != nil {
			p.add("slate", "media has no video stream")
		}
	}
	end := func(field string, t float64) {
		if t > m.Duration {
			p.add(field, "after end of media (%s > %s)", secs(t), secs(m.Duration))
		}
	}
	end("clip.in", s.Clip.In)
	end("clip.out", s.Clip.Out)
	for i, r := range s.Regions {
		for j, k := range r.Keyframes {
			kf := fmt.Sprintf("regions[%d].keyframes[%d]", i, j)
			end(kf+".time", k.Time)
			if !m.HasVideo {
				continue
			}
			if k.X+k.Width > float64(m.Width) {
				p.add(kf, "box off frame: x+width = %g > frame width %d", k.X+k.Width, m.Width)
			}
			if k.Y+k.Height > float64(m.Height) {
				p.add(kf, "box off frame: y+height = %g > frame height %d", k.Y+k.Height, m.Height)
			}
		}
	}
	for i, a := range s.Audio {
		f := fmt.Sprintf("audio[%d]", i)
		if !m.HasAudio {
			if m.HasVideo {
				p.add(f, "media has no audio stream")
			}
			continue
		}
		end(f+".start", a.Start)
		end(f+".end", a.End)
	}
	for i, b := range s.FullFrameBlur {
		f := fmt.Sprintf("full_frame_blur[%d]", i)
		end(f+".start", b.Start)
		end(f+".end", b.End)
	}
	if sl := s.Slate; sl != nil {
		end("slate.start", sl.Start)
		end("slate.end", sl.End)
		if m.HasVideo && sl.Size > m.Height {
			p.add("slate.size", "%d pixels is taller than the frame (%d)", sl.Size, m.Height)
		}
	}
	return p.err()
}

func checkTime(p *problems, field string, t float64) {
	switch {
	case t < 0:
		p.add(field, "negative time (%s)", secs(t))
	case t > maxTime:
		p.add(field, "time %s beyond the %gs limit", secs(t), float64(maxTime))
	}
}

func checkRange(p *problems, field string, start, end float64) {
	checkTime(p, field+".start", start)
	checkTime(p, field+".end", end)
	if end < start {
		p.add(field+".end", "before start (%s < %s)", secs(end), secs(start))
	}
}

func checkCoord(p *problems, field string, v float64, size bool) {
	switch {
	case size && v <= 0:
		p.add(field, "must be positive (got %g)", v)
	case !size && v < 0:
		p.add(field, "negative (%g): box off frame", v)
	case v > maxCoordinate:
		p.add(field, "%g beyond the %d pixel limit", v, maxCoordinate)
	}
}

func checkEffect(p *problems, field string, e Effect) {
	switch e.Type {
	case EffectBlur:
		if e.Strength < 1 || e.Strength > 100 {
			p.add(field+".strength", "%d out of range (want 1..100)", e.Strength)
		}
		if e.BlockSize != 0 || e.Color != "" {
			p.add(field, "blur takes only strength")
		}
	case EffectPixelate:
		if e.BlockSize < minBlockSize || e.BlockSize > maxBlockSize {
			p.add(field+".block_size", "%d out of range (want %d..%d)", e.BlockSize, minBlockSize, maxBlockSize)
		}
		if e.Strength != 0 || e.Color != "" {
			p.add(field, "pixelate takes only block_size")
		}
	case EffectFill:
		if _, err := ParseColor(e.Color); err != nil {
			p.add(field+".color", "%v", err)
		}
		if e.Strength != 0 || e.BlockSize != 0 {
			p.add(field, "fill takes only color")
		}
	case "":
		p.add(field+".type", "missing (want blur, pixelate or fill)")
	default:
		p.add(field+".type", "unknown effect %q (want blur, pixelate or fill)", e.Type)
	}
}

func checkReason(p *problems, field, reason string) {
	switch {
	case strings.TrimSpace(reason) == "":
		p.add(field, "a reason or exemption code is required")
	case len(reason) > 1000:
		p.add(field, "%d characters, limit 1000", len(reason))
	}
}

func checkOrigin(p *problems, field string, o Origin, required bool) {
	switch o {
	case OriginAuto, OriginManual:
	case "":
		if required {
			p.add(field, "missing (want auto or manual)")
		}
	default:
		p.add(field, "unknown origin %q (want auto or manual)", o)
	}
}

// RGB is a parsed "#rrggbb" colour.
type RGB struct{ R, G, B uint8 }

// ParseColor reads a "#rrggbb" colour.
func ParseColor(s string) (RGB, error) {
	if len(s) != 7 || s[0] != '#' {
		return RGB{}, fmt.Errorf("%q is not a #rrggbb colour", s)
	}
	v, err := strconv.ParseUint(s[1:], 16, 32)
	if err != nil {
		return RGB{}, fmt.Errorf("%q is not a #rrggbb colour", s)
	}
	return RGB{uint8(v >> 16), uint8(v >> 8), uint8(v)}, nil
}

// secs formats seconds with at least one and at most three decimals:
// 30 → "30.0s", 31.25 → "31.25s".
func secs(v float64) string {
	s := strconv.FormatFloat(v, 'f', 3, 64)
	s = strings.TrimRight(s, "0")
	if strings.HasSuffix(s, ".") {
		s += "0"
	}
	return s + "s"
}

// Marshal encodes the spec as indented JSON, the form Parse reads.
func (s *Spec) Marshal() ([]byte, error) {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("redact: encoding spec: %w", err)
	}
	return append(b, '\n'), nil
}

// Window returns the region's time window [first keyframe, last keyframe].
func (r *Region) Window() (start, end float64) {
	if len(r.Keyframes) == 0 {
		return 0, -1
	}
	return r.Keyframes[0].Time, r.Keyframes[len(r.Keyframes)-1].Time
}

// Box is a rectangle in pixels of the upright source picture.
type Box struct{ X, Y, W, H float64 }

// BoxAt returns the region's box at time t and whether anything is
// obscured there: nothing outside the window [first keyframe, last
// keyframe] or in a span that starts at a hidden keyframe; in a hold span
// the box of the span's first keyframe; otherwise the per-coordinate linear
// interpolation between the surrounding keyframes. The web editor's
// interp.js implements the same function; both are tested against
// testdata/interp_vectors.json.
func (r *Region) BoxAt(t float64) (Box, bool) {
	ks := r.Keyframes
	if len(ks) == 0 || t < ks[0].Time || t > ks[len(ks)-1].Time {
		return Box{}, false
	}
	// Binary search for the last keyframe at or before t.
	lo, hi := 0, len(ks)-1
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if ks[mid].Time <= t {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	a := ks[lo]
	if a.Hidden {
		return Box{}, false
	}
	if lo == len(ks)-1 || a.Time == t || a.Interp == InterpHold {
		return Box{a.X, a.Y, a.Width, a.Height}, true
	}
	b := ks[lo+1]
	f := (t - a.Time) / (b.Time - a.Time)
	lerp := func(x, y float64) float64 { return x + (y-x)*f }
	return Box{lerp(a.X, b.X), lerp(a.Y, b.Y), lerp(a.Width, b.Width), lerp(a.Height, b.Height)}, true
}

// Rendered reports whether the region is obscured in the output: every
// region except a rejected proposal.
func (r *Region) Rendered() bool { return r.Review != ReviewRejected }
